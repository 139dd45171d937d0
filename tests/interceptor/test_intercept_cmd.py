"""`memproxy intercept`: wrapping a command against the real daemon (`memproxy up` in a home of its own,
on the fake upstream), and the interceptor on its own in the foreground."""

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
from tests.support.config import OPENAI_KEY, gateway_config
from tests.support.daemon import MEMPROXY, Daemon, start_daemon
from tests.support.hardening import USER
from tests.support.ports import free_port, free_range
from tests.support.serving import home_paths
from tests.support.upstream import FakeUpstream, text

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
DUMP_ENV = (
    "import json, os, sys; keys = ('OPENAI_BASE_URL', 'OPENAI_API_BASE', 'ANTHROPIC_BASE_URL', 'MEMPROXY_PROJECT',"
    " 'MEMPROXY_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'); "
    "open(sys.argv[1], 'w').write(json.dumps({k: os.environ.get(k) for k in keys})); sys.exit(int(sys.argv[2]))"
)


@pytest.fixture(scope="module")
def project_ports() -> tuple[int, int]:
    """The daemon's interceptor.port_range: free ports of this run's own."""
    return free_range()


@pytest.fixture(scope="module")
def daemon(
    upstream: FakeUpstream, project_ports: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    """The real daemon (`memproxy up`) in a home of its own, projects on `project_ports`."""
    config = gateway_config(upstream.url, port_range=project_ports)
    with start_daemon(tmp_path_factory.mktemp("intercept-home"), config) as d:
        yield d


def _intercept(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """`memproxy intercept ARGS` in the daemon's home, as a user runs it; the daemon must keep its pid."""
    pid = daemon.status()["pid"]
    result = daemon.cli("intercept", *args)
    assert daemon.status()["pid"] == pid, "intercept started another daemon"
    assert "keeps running" not in result.stderr  # it found the daemon running and said nothing of starting one
    return result


@pytest.mark.e2e
@pytest.mark.parametrize("separator", [["--"], []])
def test_command_sees_spec_env_and_its_exit_code_is_ours(
    daemon: Daemon, fake: FakeUpstream, tmp_path: Path, separator: list[str]
) -> None:
    out = tmp_path / "env.json"
    result = _intercept(daemon, "--project", "shop", *separator, sys.executable, "-c", DUMP_ENV, str(out), "7")
    assert result.returncode == 7, result.stdout + result.stderr
    (entry,) = [p for p in json.loads(daemon.cli("ports", "--json").stdout) if p["name"] == "shop"]
    assert entry["listening"], entry
    url = f"http://127.0.0.1:{entry['port']}"
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
    # the base URL the command was given reaches the provider through the daemon, as the project's
    fake.script(text("through the project port"))
    r = httpx.post(f"{tool}/v1/chat/completions", json={"model": "gpt-4o", "messages": USER}, timeout=30)
    assert r.status_code == 200 and "through the project port" in r.text, r.text
    assert fake.last("/v1/chat/completions").headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.e2e
def test_command_not_found_is_127(daemon: Daemon) -> None:
    result = _intercept(daemon, "--project", "shop", "--", "no-such-tool-xyz")
    assert result.returncode == 127
    assert "command not found: no-such-tool-xyz" in result.stdout + result.stderr


def test_bad_project_name_refused() -> None:
    result = runner.invoke(app, ["intercept", "--project", "a/b", "--", "true"])
    assert result.exit_code == 1
    assert "invalid project name 'a/b'" in result.output
    assert not home_paths().registry_file.exists()


@pytest.mark.e2e
def test_port_that_never_listens_is_an_error(daemon: Daemon, project_ports: tuple[int, int]) -> None:
    """Another program took the port the project is registered on: the daemon cannot listen there, and
    intercept says so instead of running the command against it."""
    from daemon.config.settings import load_settings

    paths = load_settings(env={"MEMPROXY_HOME": str(daemon.home)}).paths
    # registered while the port was free (the daemon not told yet), then another program takes it
    port, _ = assign(paths, "held", project_ports, project_ports[1])
    with socket.create_server(("127.0.0.1", port)):
        result = _intercept(daemon, "--project", "held", "--", "true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the daemon cannot listen on port {port} for held" in result.stdout + result.stderr


def test_port_wait_gives_up_when_no_daemon_reports_the_port(
    memproxy_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback when the port sync is not answered at all: the wait for the port gives up.

    A real daemon cannot get here: after ensure_running it answers the sync, and its answer names the
    project's port listening or the error that stops it (the test above). Only a daemon that is gone
    by then (or one of another version) leaves the wait to decide, so ensure_running is replaced by a
    no-op here and no daemon runs."""
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
