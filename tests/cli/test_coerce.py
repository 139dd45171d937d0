"""Commands parse their options without pydantic (memproxy_cli.coerce), and read them as Typer would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from memproxy_cli.coerce import _UNREAD, plain
from memproxy_cli.main import app

typer_coercion = pytest.importorskip("typer._coercion")  # typer >= 0.29 coerces through pydantic

SAMPLES: dict[str, list[Any]] = {
    "int": ["3", "-2", "0", "+7", "x", "1_0", "", 5],
    "float": ["0.5", "1e3", ".5", "inf", "nan", "0.001", "", 2.0, 3],
    "str": ["a", "", "-n"],
    "Path": ["a/b", "", "-", Path("x")],
    "By": ["project", "model", "Project", "nope", ""],
}


def _params() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and getattr(descriptor.annotation, "__name__", "") in SAMPLES:
                found.append((f"{path} {param.name}", descriptor))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "memproxy")
    return found


@pytest.mark.parametrize(("where", "descriptor"), _params(), ids=lambda p: p if isinstance(p, str) else "")
def test_every_value_read_plainly_is_what_typer_reads(where: str, descriptor: Any) -> None:
    adapter = typer_coercion.build_runtime_param(descriptor)
    for value in SAMPLES[descriptor.annotation.__name__]:
        ours = plain(value, descriptor.annotation, descriptor.parameter_info)
        if ours is _UNREAD:
            continue  # Typer's own coercion reads it (or refuses it, with its message)
        theirs = adapter.adapter.validate_python(value)  # raises if Typer would refuse what we accepted
        assert (ours, type(ours)) == (theirs, type(theirs)), f"{where} {value!r}"


def _modules_after(args: list[str], home: Path) -> dict[str, bool]:
    code = (
        "import json, sys\nfrom memproxy_cli.main import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps({m: m in sys.modules for m in ('pydantic', 'typer._adapters')}))"
    )
    env = {"MEMPROXY_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["ports", "--json"], ["logs", "-n", "5"], ["logs", "-n", "5", "--json"]])
def test_read_only_commands_never_import_pydantic(args: list[str], tmp_path: Path) -> None:
    assert _modules_after(args, tmp_path) == {"pydantic": False, "typer._adapters": False}


def test_options_need_no_pydantic_adapter_even_for_a_choice(tmp_path: Path) -> None:
    assert not _modules_after(["stats", "--by", "model", "--json"], tmp_path)["typer._adapters"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["logs", "-n", "x"], "Invalid value"), (["memory", "list", "-n", "0"], "Invalid value"),
     (["stats", "--by", "nope"], "Invalid value")],
)  # fmt: skip
def test_a_value_typer_refuses_is_still_refused_with_its_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    assert result.exit_code == 2 and message in result.output
