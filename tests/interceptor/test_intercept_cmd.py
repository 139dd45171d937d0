"""`memproxy intercept`: wrapping a command, and the interceptor on its own in the foreground."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import daemon.lifecycle as lifecycle
from daemon.sockets import port_accepts
from interceptor.registry import assign
from memproxy_cli.main import app
from tests.support.daemon import MEMPROXY
from tests.support.ports import free_port, free_range
from tests.support.serving import home_paths
from tests.support.upstream import FakeUpstream

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
DUMP_ENV = (
    "import json, os, sys; keys = ('OPENAI_BASE_URL', 'OPENAI_API_BASE', 'ANTHROPIC_BASE_URL', 'MEMPROXY_PROJECT',"
    " 'MEMPROXY_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'); "
    "open(sys.argv[1], 'w').write(json.dumps({k: os.environ.get(k) for k in keys})); sys.exit(int(sys.argv[2]))"
)


@pytest.fixture
def daemon_port(memproxy_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """shop registered, and something listening on its port as the daemon would."""
    low, high = free_range()
    (memproxy_home / "config.yaml").write_text(f"interceptor:\n  port_range: [{low}, {high}]\n")
    port, _ = assign(home_paths(), "shop", (low, high))
    started: list[str | None] = []
    monkeypatch.setattr(lifecycle, "ensure_running", lambda config=None: started.append(config))
    with socket.create_server(("127.0.0.1", port)):
        yield port
    assert started == [None]


@pytest.mark.parametrize("separator", [["--"], []])
def test_command_sees_spec_env_and_its_exit_code_is_ours(
    daemon_port: int, tmp_path: Path, separator: list[str]
) -> None:
    out = tmp_path / "env.json"
    args = ["intercept", "--project", "shop", *separator, sys.executable, "-c", DUMP_ENV, str(out), "7"]
    result = runner.invoke(app, args)
    assert result.exit_code == 7, result.output
    url = f"http://127.0.0.1:{daemon_port}"
    tool = f"{url}/client/{Path(sys.executable).name.lower()}"  # `python -c ...`: the interpreter names it
    assert json.loads(out.read_text()) == {
        "OPENAI_BASE_URL": f"{tool}/v1",
        "OPENAI_API_BASE": f"{tool}/v1",
        "ANTHROPIC_BASE_URL": tool,
        "MEMPROXY_PROJECT": "shop",
        "MEMPROXY_URL": url,
        "OPENAI_API_KEY": "memproxy",
        "ANTHROPIC_API_KEY": "memproxy",
    }


def test_command_not_found_is_127(daemon_port: int) -> None:
    result = runner.invoke(app, ["intercept", "--project", "shop", "--", "no-such-tool-xyz"])
    assert result.exit_code == 127
    assert "command not found: no-such-tool-xyz" in result.output


def test_bad_project_name_refused() -> None:
    result = runner.invoke(app, ["intercept", "--project", "a/b", "--", "true"])
    assert result.exit_code == 1
    assert "invalid project name 'a/b'" in result.output
    assert not home_paths().registry_file.exists()


def test_port_that_never_listens_is_an_error(memproxy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memproxy_cli.intercept_cmd as intercept_cmd

    monkeypatch.setattr(lifecycle, "ensure_running", lambda config=None: None)
    monkeypatch.setattr(intercept_cmd, "PORT_WAIT_S", 0.2)
    low, high = free_range()
    (memproxy_home / "config.yaml").write_text(f"interceptor:\n  port_range: [{low}, {high}]\n")
    result = runner.invoke(app, ["intercept", "--project", "shop", "--", "true"])
    assert result.exit_code == 1
    assert "does not accept connections" in result.output


def test_standalone_interceptor_forwards_until_ctrl_c(memproxy_home: Path) -> None:
    port = free_port()
    with FakeUpstream() as upstream:
        env = {**os.environ, "NO_COLOR": "1"}
        proc = subprocess.Popen(
            [str(MEMPROXY), "intercept", "--project", "team", "--port", str(port), "--gateway", upstream.url],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not port_accepts(port):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout and proc.stdout.read()
                time.sleep(0.05)
            r = httpx.get(f"http://127.0.0.1:{port}/v1/models")
            assert r.status_code == 200
            assert upstream.last("/v1/models").headers["x-memproxy-project"] == "team"
        finally:
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, output
    assert f"memproxy interceptor for team on http://127.0.0.1:{port} → {upstream.url}" in output
    assert not home_paths().registry_file.exists()  # an explicit --port leaves the registry alone
