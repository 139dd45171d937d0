"""`memproxy doctor`: one line per check, the fix for each failure, exit 1 when any check failed."""

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
    assert result.exit_code == 1, result.output  # models without keys and no daemon: checks failed
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


def test_each_model_says_where_its_credentials_come_from(memproxy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ROLE_ARN", "VERTEXAI_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VERTEXAI_LOCATION", "europe-west4")
    (memproxy_home / "config.yaml").write_text(
        "model_list:\n"
        "  - {model_name: local, litellm_params: {model: openai/llama3.1, api_base: 'http://localhost:11434/v1'}}\n"
        "  - {model_name: ollama, litellm_params: {model: ollama_chat/llama3.1}}\n"
        "  - {model_name: bedrock, litellm_params: {model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0}}\n"
        "  - {model_name: vertex, litellm_params: {model: vertex_ai/gemini-1.5-pro}}\n"
        "  - model_name: own\n"
        "    litellm_params: {model: openai/gpt-4o, configurable_clientside_auth_params: [api_key]}\n"
    )
    checks = {c["name"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert checks["model local"]["ok"] and "no key needed" in checks["model local"]["detail"]
    assert checks["model ollama"]["ok"] and "ollama_chat takes no key" in checks["model ollama"]["detail"]
    bedrock = checks["model bedrock"]
    assert not bedrock["ok"] and "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in bedrock["detail"]
    assert "export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=..." in bedrock["fix"]
    # only what is missing: the location is set
    assert not checks["model vertex"]["ok"] and checks["model vertex"]["detail"].startswith("missing VERTEXAI_PROJECT:")
    assert checks["model own"]["ok"] and "their own key" in checks["model own"]["detail"]
    monkeypatch.setenv("AWS_PROFILE", "dev")
    checks = {c["name"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert checks["model bedrock"]["ok"] and "found in the environment" in checks["model bedrock"]["detail"]
