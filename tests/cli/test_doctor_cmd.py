"""`memproxy doctor`: one line per check, the fix for each failure, exit 1 only for fatal problems."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memproxy_cli.main import app
from tests.support.ports import free_port

runner = CliRunner()


def test_no_config_reports_defaults_and_missing_keys(memproxy_home: Path) -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["config"]["ok"] and "built-in defaults" in checks["config"]["detail"]
    assert not checks["model claude-*"]["ok"]
    assert "ANTHROPIC_API_KEY" in checks["model claude-*"]["fix"]
    # No daemon of this home runs, whatever holds the default port (a real memproxy may).
    assert not checks["daemon"]["ok"] and checks["daemon"]["fix"]


def test_no_daemon_on_a_free_port_says_memproxy_up(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text(f"general_settings:\n  port: {free_port()}\n")
    checks = {c["name"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert not checks["daemon"]["ok"] and checks["daemon"]["detail"] == "not running"
    assert checks["daemon"]["fix"] == "memproxy up"


def test_a_port_held_by_another_program_is_named_with_the_fix(memproxy_home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (memproxy_home / "config.yaml").write_text(f"general_settings:\n  port: {port}\n")
        checks = {c["name"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert not checks["daemon"]["ok"] and f"port {port} is held by" in checks["daemon"]["detail"]
    assert "memproxy up --port N" in checks["daemon"]["fix"]


def test_a_key_in_the_environment_counts(memproxy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-doctor-test")
    checks = {c["name"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert checks["model gpt-*"]["ok"]


def test_broken_config_fails_with_file_and_line(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text("general_settings:\n  port: nope\n")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "config.yaml:2" in result.output
