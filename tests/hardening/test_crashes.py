"""Crashes and leftovers: `kill -9` of the real daemon under load, stale pid files and locks.

Each test starts its own daemon with `memproxy up` in its own MEMPROXY_HOME; SQLite is the real file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import db_rows, integrity
from tests.support.hardening import USER, config_text, figure
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.processes import daemon_pid, daemon_processes, kill_leftovers, pid_running
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

STREAMS = 30
COMMITTED_BEFORE = 40


def _quick(daemon: Daemon, project: str) -> int:
    try:
        r = httpx.post(
            f"{daemon.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": USER},
            headers={"x-memproxy-project": project},
            timeout=30,
        )
    except httpx.HTTPError:
        return -1
    return r.status_code


def _slow_stream(daemon: Daemon, project: str, first: threading.Semaphore, outcome: list[str]) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": USER, "max_tokens": 500, "stream": True}
    got_first = False
    try:
        with httpx.stream(
            "POST", f"{daemon.url}/v1/messages", json=body, headers={"x-memproxy-project": project}, timeout=60
        ) as r:
            for _ in r.iter_raw():
                if not got_first:
                    got_first = True
                    first.release()
        outcome.append("ended")
    except httpx.HTTPError as exc:
        outcome.append(type(exc).__name__)
    finally:
        if not got_first:
            first.release()


@pytest.mark.slow
def test_kill_9_under_load_loses_no_committed_row(tmp_path: Path, fake: ObservingUpstream) -> None:
    home = tmp_path / "home"
    d = start_daemon(home, config_text(fake.url, timeout=120))
    try:
        pid = daemon_pid(d)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _quick(d, "before"), range(COMMITTED_BEFORE)))
        assert statuses == [200] * COMMITTED_BEFORE
        assert wait_for(lambda: len(db_rows(home, "project = 'before' AND status = 'ok'")) == COMMITTED_BEFORE, 10)

        # load: 30 slow streams (a 40 s answer each) plus a steady trickle of quick requests
        fake.chunks, fake.chunk_interval_ms = 200, 200
        first = threading.Semaphore(0)
        outcomes: list[str] = []
        streams = [threading.Thread(target=_slow_stream, args=(d, "streams", first, outcomes)) for _ in range(STREAMS)]
        for t in streams:
            t.start()
        stop = threading.Event()
        trickle: list[int] = []

        def keep_busy() -> None:
            while not stop.is_set():
                trickle.append(_quick(d, "during"))

        busy = threading.Thread(target=keep_busy)
        busy.start()
        for _ in range(STREAMS):
            assert first.acquire(timeout=30)
        in_flight = wait_for(lambda: len(db_rows(home, "project = 'streams' AND status = 'in_flight'")) == STREAMS, 10)
        assert in_flight, f"the {STREAMS} streams never showed as in_flight rows"
        time.sleep(0.3)  # let the trickle commit a few more rows
        snapshot = {r["id"]: r["status"] for r in db_rows(home)}
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_for(lambda: not pid_running(pid), 10)
        stop.set()
        busy.join(timeout=30)
        for t in streams:
            t.join(timeout=30)

        up_started = time.monotonic()
        up = d.up()
        up_s = time.monotonic() - up_started
        recover_s = time.monotonic() - killed_at
        assert up.returncode == 0, up.stdout + up.stderr + d.log_tail()
        after = {r["id"]: r for r in db_rows(home)}
        lost = [i for i in snapshot if i not in after]
        changed = [i for i, st in snapshot.items() if st != "in_flight" and after[i]["status"] != st]
        were_in_flight = [i for i, st in snapshot.items() if st == "in_flight"]
        interrupted = [i for i in were_in_flight if i in after and after[i]["status"] == "interrupted"]
        left_in_flight = [i for i, r in after.items() if r["status"] == "in_flight"]
        check = integrity(home)
        served = _quick(d, "after")
        figure(
            "kill_9_under_load",
            streams=STREAMS,
            committed_before_kill=sum(st != "in_flight" for st in snapshot.values()),
            trickle_requests=len(trickle),
            rows_lost=len(lost),
            rows_changed=len(changed),
            in_flight_at_kill=len(were_in_flight),
            marked_interrupted=len(interrupted),
            left_in_flight=len(left_in_flight),
            integrity=check,
            streams_cut=sum(o != "ended" for o in outcomes),
            up_s=up_s,
            kill_to_serving_s=recover_s,
        )
        assert lost == [] and changed == []
        assert len(were_in_flight) >= STREAMS
        assert sorted(interrupted) == sorted(were_in_flight)
        assert left_in_flight == []
        assert check == "ok"
        assert served == 200
        assert all(after[i]["error"] for i in interrupted)
    finally:
        d.down()
        kill_leftovers(home)


# --- stale pid files and locks -------------------------------------------------------------------------------


def _hold_lock_then_die(lock: Path) -> None:
    """A process that takes `lock` the way `memproxy up` does, then is killed -9 while holding it."""
    code = (
        "import sys, time\nfrom filelock import FileLock\n"
        "FileLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()


def _stale_state(home: Path, pid: int, port: int) -> None:
    (home / "memproxy.pid").write_text(f"{pid}\n")
    state = {"pid": pid, "host": "127.0.0.1", "port": port, "started_at": 0, "config_path": None, "version": "0"}
    (home / "daemon.json").write_text(json.dumps(state))


@pytest.mark.slow
def test_stale_pid_file_and_stale_locks_never_block_up(tmp_path: Path, fake: ObservingUpstream) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(config_text(fake.url))
    d = Daemon(home=home, port=free_port())
    dead = subprocess.Popen(["true"])
    dead.wait()
    _stale_state(home, dead.pid, d.port)
    _hold_lock_then_die(home / "daemon.lock")  # the start lock of an `up` killed mid-start
    _hold_lock_then_die(home / "ports.lock")  # the registry lock of a killed `ports assign`
    (home / ".memproxy.pid.999999.tmp").write_text("half-written")
    try:
        t0 = time.monotonic()
        up = d.up()
        took = time.monotonic() - t0
        pids = daemon_processes(home)
        figure("stale_pid_and_locks", up_exit=up.returncode, up_seconds=took, daemons=len(pids))
        assert up.returncode == 0, up.stdout + up.stderr
        assert len(pids) == 1 and pids[0] == daemon_pid(d) != dead.pid
        assigned = d.cli("ports", "assign", "after-stale-lock")
        assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    finally:
        d.down()
        kill_leftovers(home)


BUG_PID_REUSE = pytest.mark.regression(
    reason="BUG: daemon/lifecycle.py trusts any live pid in memproxy.pid: read_daemon_info() only checks "
    "pid_alive(), so after a crash and pid reuse `up` refuses ('running but not answering') and `down` "
    "(stop_daemon) sends SIGTERM/SIGINT/SIGKILL to an unrelated process; fix: verify the pid is our daemon "
    "(/proc/<pid>/cmdline has daemon.server, or its start time matches daemon.json started_at) before trusting "
    "or signalling it, else treat the pid file as stale",
    strict=True,
)


@BUG_PID_REUSE
def test_pid_file_naming_an_unrelated_live_process_does_not_block_up(tmp_path: Path, fake: ObservingUpstream) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(config_text(fake.url))
    d = Daemon(home=home, port=free_port())
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        _stale_state(home, bystander.pid, d.port)
        up = d.up()
        figure("stale_pid_reused_by_other_process[up]", up_exit=up.returncode)
        assert up.returncode == 0, up.stdout + up.stderr
        assert bystander.poll() is None
    finally:
        if daemon_processes(home):
            d.down()
        kill_leftovers(home)
        bystander.kill()
        bystander.wait()


@BUG_PID_REUSE
def test_down_never_signals_an_unrelated_process_named_by_a_stale_pid_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    d = Daemon(home=home, port=free_port())
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        _stale_state(home, bystander.pid, d.port)
        down = d.down()
        time.sleep(0.2)
        alive = bystander.poll() is None
        figure("stale_pid_reused_by_other_process[down]", down_exit=down.returncode, bystander_alive=alive)
        assert alive, f"`memproxy down` killed pid {bystander.pid}, which was never a memproxy daemon"
        assert down.returncode == 0
    finally:
        bystander.kill()
        bystander.wait()
