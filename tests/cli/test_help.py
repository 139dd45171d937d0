"""`--help` of every command reads like a well-made CLI's, at 80 columns."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from daemon import __version__
from memproxy_cli.main import app

runner = CliRunner()


def _paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in getattr(group, "commands", {}).items():
        paths += _paths(command, (*prefix, name))
    return paths


COMMANDS = _paths(typer.main.get_command(app))


def _help(*path: str) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "memproxy")
def test_help_has_no_python_type_placeholders(path: tuple[str, ...]) -> None:
    text = _help(*path)
    for placeholder in ("<bool>", "<str>", "<int", "<float", "<list", "<path", "[x>="):
        assert placeholder not in text, f"{placeholder} in memproxy {' '.join(path)} --help:\n{text}"
    assert not re.search(r"\{[a-z_]+\}", text), f"an argument in braces ({{project}}):\n{text}"
    assert all(len(line) <= 80 for line in text.splitlines())


def test_help_names_values_the_conventional_way() -> None:
    logs = _help("logs")
    assert re.search(r"--count\s+-n\s+INTEGER", logs) and re.search(r"--project\s+-p\s+TEXT", logs)
    assert re.search(r"--errors\s+Only failed", logs), "a flag shows no value after it"
    assert "Usage: memproxy ports assign [OPTIONS] PROJECT" in _help("ports", "assign")
    stats = _help("stats")
    assert "project, model, client, day, week or" in stats  # the choices wrap whole, in words


@pytest.mark.parametrize(
    "path", [("logs",), ("stats",), ("intercept",), ("memory", "add"), ("memory", "search"), ("memory", "list")]
)
def test_dash_p_is_the_project_everywhere(path: tuple[str, ...]) -> None:
    assert re.search(r"--project\s+-p\b", _help(*path))


@pytest.mark.parametrize("path", [("logs",), ("memory", "search"), ("memory", "list")])
def test_dash_n_is_how_many_everywhere(path: tuple[str, ...]) -> None:
    assert re.search(r"--count(,--limit)?\s+-n\s+INTEGER\s+How many", _help(*path))


def test_memory_list_takes_n_as_a_count() -> None:
    result = runner.invoke(app, ["memory", "list", "-n", "0"])
    assert result.exit_code == 2 and "Invalid value" in result.output  # the range is still checked


def test_version_and_shell_completion() -> None:
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.stdout.strip() == f"memproxy {__version__}"
    text = _help()
    assert "--install-completion" in text and "--show-completion" in text


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys; from memproxy_cli.main import app\n"
        "try:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(any(m in sys.modules for m in ('litellm', 'fastapi', 'uvicorn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
