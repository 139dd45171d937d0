"""`memproxy --help` leaves out rich modules its help never uses and prints the same help (memproxy_cli.helpfast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memproxy_cli.helpfast import asks_for_help
from memproxy_cli.main import app

HEAVY = ("rich.markdown", "rich.traceback", "markdown_it", "pygments", "rich.pretty")


def _run(code: str, home: Path) -> str:
    env = {"MEMPROXY_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def _help_as_typed(path: list[str], home: Path) -> str:
    """What `memproxy PATH --help` prints, the command line in sys.argv as the installed script has it."""
    argv = ["memproxy", *path, "--help"]
    return _run(f"import sys\nsys.argv = {argv!r}\nfrom memproxy_cli.main import app\napp(prog_name='memproxy')", home)


@pytest.mark.parametrize("path", [[], ["logs"], ["ports", "assign"], ["stats"], ["memory", "list"]], ids=" ".join)
def test_the_help_is_the_one_typer_prints_with_everything_imported(path: list[str], tmp_path: Path) -> None:
    expected = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"}).stdout
    assert _help_as_typed(path, tmp_path) == expected


def test_help_imports_no_markdown_or_traceback_renderer(tmp_path: Path) -> None:
    code = (
        "import json, sys\nsys.argv = ['memproxy', '--help']\nfrom memproxy_cli.main import app\n"
        "try:\n    app(prog_name='memproxy')\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert json.loads(_run(code, tmp_path).strip().splitlines()[-1]) == []


def test_later_imports_get_the_real_modules(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.argv = ['memproxy', '--help']\nimport memproxy_cli.main\n"
        "import rich.markdown, rich.traceback, typer.rich_utils\n"
        "print(hasattr(rich.markdown, 'Heading'), hasattr(rich.traceback, 'Frame'),\n"
        "      type(typer.rich_utils.Traceback.from_exception).__name__,\n"
        "      type(typer.rich_utils.Markdown('*x*')).__module__)"
    )
    assert _run(code, tmp_path).split() == ["True", "True", "method", "rich.markdown"]


def test_only_a_command_line_asking_for_help_is_prepared() -> None:
    assert asks_for_help(["memproxy"]) and asks_for_help(["memproxy", "logs", "--help"])
    assert not asks_for_help(["memproxy", "logs", "-n", "5"])
