"""The CLI's one error boundary: a MemproxyError from any command is one message on stderr and exit 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from memproxy_cli.main import app

runner = CliRunner()


def test_a_library_error_is_one_prefixed_line_and_exit_1() -> None:
    result = runner.invoke(app, ["ports", "release", "a/b"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("memproxy: invalid project name 'a/b'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_message_is_printed_as_it_is(tmp_path: Path) -> None:
    # Rich would read "[bold]" as markup and ":100:" as an emoji code; a message is never either.
    result = runner.invoke(app, ["ports", "release", "[bold]:100:"])
    assert result.exit_code == 1
    assert "'[bold]:100:'" in result.stderr


def test_config_commands_print_bare_lines(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["config", "validate", "--config", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"config file {missing} does not exist")


def test_the_same_config_error_elsewhere_is_prefixed(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["status", "--config", str(missing)])
    assert result.exit_code == 0  # status reports either way, even without a usable config
    result = runner.invoke(app, ["ports", "assign", "shop", "--config", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"memproxy: config file {missing} does not exist")
