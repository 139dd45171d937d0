"""`memproxy up / down / restart / status` against real processes, each test in its own MEMPROXY_HOME."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.config import gateway_config
from tests.support.daemon import MEMPROXY, REPO, Daemon, clean_env, start_daemon
from tests.support.ports import free_port
from tests.support.processes import daemon_processes
from tests.support.upstream import FakeUpstream, stall, text

pytestmark = pytest.mark.e2e

HEAVY = ("litellm", "fastapi", "uvicorn", "starlette")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A home with no config file at all; whatever the test starts is stopped afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    d = Daemon(home=home, port=free_port())
    try:
        yield d
    finally:
        d.down()


def _pid(output: str) -> int:
    match = re.search(r"pid (\d+)", output)
    assert match, output
    return int(match.group(1))


def test_up_without_config_runs_and_down_stops(daemon: Daemon) -> None:
    assert not (daemon.home / "config.yaml").exists()
    up = daemon.up()
    assert up.returncode == 0, up.stderr
    assert daemon.url in up.stdout
    status = daemon.status()
    assert status["running"] is True
    assert status["port"] == daemon.port and status["url"] == daemon.url
    assert status["pid"] == _pid(up.stdout)
    assert {"version", "config_path", "db_path", "projects"} <= set(status)
    health = httpx.get(f"{daemon.url}/health", timeout=5).json()
    assert health["status"] == "healthy"
    # the wildcard defaults route without keys (the client's key is passed on)
    assert {"gpt-*", "claude-*"} <= set(status["models"])
    # `status` of a running daemon stays light too
    modules, in_sys_modules, stdout = _imports_of(daemon, "status", "--json")
    assert "memproxy_cli.main" in modules
    assert sorted({m.split(".")[0] for m in modules} & set(HEAVY)) == [] == in_sys_modules
    assert json.loads(stdout)["running"] is True

    down = daemon.down()
    assert down.returncode == 0, down.stderr
    assert daemon.status()["running"] is False
    assert daemon_processes(daemon.home) == []
    assert not (daemon.home / "memproxy.pid").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{daemon.url}/health", timeout=2)


def test_up_twice_starts_one_daemon_and_restart_gives_a_new_one(daemon: Daemon) -> None:
    # The port lives in the config so `restart` (which takes no --port) comes back on it.
    (daemon.home / "config.yaml").write_text(f"general_settings:\n  port: {daemon.port}\n")
    first = daemon.cli("up")
    assert first.returncode == 0, first.stderr
    again = daemon.cli("up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    pid = daemon.status()["pid"]
    assert _pid(first.stdout) == _pid(again.stdout) == pid
    assert daemon_processes(daemon.home) == [pid]

    restarted = daemon.cli("restart")
    assert restarted.returncode == 0, restarted.stderr
    status = daemon.status()
    assert status["running"] is True and status["pid"] != pid
    assert status["port"] == daemon.port
    assert daemon_processes(daemon.home) == [status["pid"]]


@pytest.mark.regression(
    reason="BUG: memproxy_cli/daemon_cmd.py restart() calls up(port=None, host=None): a daemon started with "
    "`up --port N` comes back on the config's port (8764), not N",
    strict=True,
)
def test_restart_keeps_the_port_given_to_up(daemon: Daemon) -> None:
    assert daemon.up().returncode == 0
    restarted = daemon.cli("restart")
    status = daemon.status()
    daemon.down()  # whatever port it chose
    assert restarted.returncode == 0
    assert status["port"] == daemon.port


@pytest.mark.regression(
    reason="BUG: memproxy_cli/daemon_cmd.py restart() stopped the running daemon before loading the config, so a "
    "typo in config.yaml left the user with no daemon at all; fixed: the config is checked first",
    strict=True,
)
def test_restart_with_a_broken_config_leaves_the_running_daemon_alone(daemon: Daemon) -> None:
    assert daemon.up().returncode == 0
    pid = daemon.status()["pid"]
    (daemon.home / "config.yaml").write_text("general_settings:\n  port: eighty\n")
    restarted = daemon.cli("restart")
    assert restarted.returncode == 1
    assert "config.yaml:2: general_settings.port" in restarted.stderr
    assert "left as it is" in restarted.stderr
    (daemon.home / "config.yaml").unlink()
    status = daemon.status()
    assert status["running"] and status["pid"] == pid


def test_down_when_stopped_exits_0(daemon: Daemon) -> None:
    result = daemon.down()
    assert result.returncode == 0
    assert "not running" in result.stdout
    assert result.stderr == ""


def test_stale_pid_file_does_not_block_up(daemon: Daemon) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (daemon.home / "memproxy.pid").write_text(f"{dead.pid}\n")
    (daemon.home / "daemon.json").write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "host": "127.0.0.1",
                "port": daemon.port,
                "started_at": 0,
                "config_path": None,
                "version": "0",
            }
        )
    )
    assert daemon.status()["running"] is False
    up = daemon.up()
    assert up.returncode == 0, up.stderr
    status = daemon.status()
    assert status["running"] is True and status["pid"] not in (None, dead.pid)


def test_stale_pid_file_is_cleaned_by_down(daemon: Daemon) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (daemon.home / "memproxy.pid").write_text(f"{dead.pid}\n")
    result = daemon.down()
    assert result.returncode == 0
    assert not (daemon.home / "memproxy.pid").exists()


def test_taken_port_is_refused_naming_the_holder(daemon: Daemon) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", daemon.port))
        holder.listen(1)
        result = daemon.up()
    assert result.returncode == 1
    assert f"pid {os.getpid()}" in result.stderr, result.stderr
    assert str(daemon.port) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert daemon_processes(daemon.home) == []


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("general_settings:\n  port: 8764\nmodel_list:\n  - model_name: x\n   litellm_params: {model: openai/x}\n", 5),
        ("general_settings:\n  port: not-a-number\n", 2),
        ("model_list:\n  - model_name: gpt-4o\n    litellm_params: {}\n", 3),
    ],
    ids=["yaml-syntax", "wrong-type", "missing-model"],
)
def test_broken_config_is_refused_with_file_and_line(daemon: Daemon, text: str, line: int) -> None:
    config = daemon.home / "config.yaml"
    config.write_text(text)
    result = daemon.up()
    assert result.returncode == 1
    assert f"{config}:{line}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert daemon_processes(daemon.home) == []


def test_ten_concurrent_ups_start_one_daemon(daemon: Daemon) -> None:
    procs = [
        subprocess.Popen(
            [str(MEMPROXY), "up", "--port", str(daemon.port)],
            env=daemon.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, outputs
    pids = {_pid(out) for out, _err in outputs}
    assert len(pids) == 1, outputs
    assert sum("already running" in out for out, _err in outputs) == 9
    assert daemon_processes(daemon.home) == list(pids)


def _down_during_a_request(tmp_path: Path) -> tuple[httpx.Response, subprocess.CompletedProcess[str], float, Daemon]:
    """Start a daemon, send a request the fake answers after 1.5 s, run `memproxy down` while it is in flight."""
    with FakeUpstream() as fake:
        d = start_daemon(tmp_path / "home", gateway_config(fake.url))
        try:
            fake.script(stall(1.5, text("made it")))
            answer: list[httpx.Response] = []
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
            sender = threading.Thread(
                target=lambda: answer.append(httpx.post(f"{d.url}/v1/chat/completions", json=body, timeout=30))
            )
            sender.start()
            deadline = time.monotonic() + 10
            while not fake.requests and time.monotonic() < deadline:  # in flight: the upstream has it
                time.sleep(0.01)
            t0 = time.monotonic()
            down = d.down()
            took = time.monotonic() - t0
            sender.join(timeout=30)
        finally:
            d.down()
    assert answer, "the in-flight request got no answer"
    return answer[0], down, took, d


def test_down_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    response, down, took, d = _down_during_a_request(tmp_path)
    assert response.status_code == 200 and "made it" in response.text, response.text
    assert down.returncode == 0, down.stderr
    assert took < 8, f"down took {took:.1f} s for a request that needed 1.5 s"
    assert daemon_processes(d.home) == []


def test_down_flushes_the_row_of_a_request_that_finished_while_draining(tmp_path: Path) -> None:
    response, _down, _took, d = _down_during_a_request(tmp_path)
    assert response.status_code == 200
    assert "memproxy stopped" in d.log_tail()
    rows = [r for r in d.rows() if r["endpoint"] == "/v1/chat/completions"]
    assert [r["status"] for r in rows] == ["ok"], rows


# --- fast commands stay light ----------------------------------------------------------------------

_PROBE = """
import sys
from memproxy_cli.main import app
try:
    app(sys.argv[1:], prog_name="memproxy")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
""" % (HEAVY,)  # noqa: UP031


def _imports_of(daemon: Daemon, *args: str) -> tuple[list[str], list[str], str]:
    """(modules `-X importtime` saw, heavy packages left in sys.modules, stdout) for `memproxy ARGS`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _PROBE, *args],
        env=clean_env(daemon.home),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    lines = result.stderr.splitlines()
    modules = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]
    heavy = next(line for line in lines if line.startswith("HEAVY=")).removeprefix("HEAVY=")
    return modules, [h for h in heavy.split(",") if h], result.stdout


@pytest.mark.parametrize(
    "args",
    [["--help"], ["status"], ["status", "--json"], ["logs", "--json"], ["config", "path"]],
    ids=" ".join,
)
def test_fast_commands_do_not_import_heavy_libraries(daemon: Daemon, args: list[str]) -> None:
    modules, in_sys_modules, _ = _imports_of(daemon, *args)
    assert "memproxy_cli.main" in modules, "importtime printed nothing"
    imported = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert imported == [], f"`memproxy {' '.join(args)}` imported {imported}"
    assert in_sys_modules == []


def test_status_of_a_running_daemon_takes_what_it_validated_while_the_file_is_unchanged(daemon: Daemon) -> None:
    config = daemon.home / "config.yaml"
    config.write_text(gateway_config("http://127.0.0.1:9"))
    assert daemon.up().returncode == 0
    modules, _, stdout = _imports_of(daemon, "status", "--json")
    assert "memproxy_cli.main" in modules and "daemon.config.settings" not in modules  # no pydantic validation
    fast = json.loads(stdout)
    state = json.loads((daemon.home / "daemon.json").read_text())
    (daemon.home / "daemon.json").write_text(json.dumps({**state, "validated": None}))  # as a daemon that told nothing
    validated = daemon.status()
    (daemon.home / "daemon.json").write_text(json.dumps(state))
    assert {**fast, "uptime_s": 0} == {**validated, "uptime_s": 0}
    assert fast["models"] == ["gpt-*", "claude-*", "byok-*"] and fast["config_error"] is None
    # ports of a registered project: no budget anywhere, so none is read either
    assert daemon.cli("ports", "assign", "shop").returncode == 0
    modules, _, stdout = _imports_of(daemon, "ports", "--json")
    assert "daemon.config.settings" not in modules
    assert [(p["name"], p["budget_percent"]) for p in json.loads(stdout)] == [("shop", None)]
    # the file edited since the daemon read it: status reads the file as it is now
    config.write_text(config.read_text().replace('model_name: "byok-*"', 'model_name: "mine-*"'))
    assert daemon.status()["models"] == ["gpt-*", "claude-*", "mine-*"]
    config.write_text("model_list: [\n")
    assert daemon.status()["config_error"]
    # a budget in the config: its rows need the validated models, so the file is read again
    config.write_text(gateway_config("http://127.0.0.1:9", extra="budgets:\n  projects:\n    shop: {daily: 5}\n"))
    assert daemon.cli("restart").returncode == 0
    modules, _, stdout = _imports_of(daemon, "status", "--json")
    assert "daemon.config.settings" in modules
    assert [(b["project"], b["limit_usd"]) for b in json.loads(stdout)["budgets"]] == [("shop", 5.0)]
    modules, _, stdout = _imports_of(daemon, "ports", "--json")
    assert "daemon.config.settings" in modules
    assert [(p["name"], p["budget_percent"]) for p in json.loads(stdout)] == [("shop", 0.0)]
