"""The databank under faults: a full disk, a damaged file, a write lock held by another process.

Each test starts its own daemon with `memproxy up` in its own MEMPROXY_HOME; SQLite is the real file.
A request is always answered; its row is written, or kept (memory, then the spool beside the
databank) and written once SQLite can take it, while `/health` and `memproxy status` say degraded.
"""

from __future__ import annotations

import errno
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import damage_indexes
from tests.support.hardening import USER, config_text, figure
from tests.support.polling import wait_for
from tests.support.processes import kill_leftovers
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

# A prompt of a few KiB, so a full disk shows within a few requests (the WAL's free room runs out).
PROMPT = [{"role": "user", "content": "Say something short. " + "padding " * 400}]


def _ask(d: Daemon, project: str, messages: list[dict[str, str]] = USER) -> int:
    r = httpx.post(
        f"{d.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": messages},
        headers={"x-memproxy-project": project},
        timeout=30,
    )
    return r.status_code


def _health(d: Daemon) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{d.url}/health", timeout=10).json()
    return data


def _metric(d: Daemon, name: str) -> float:
    for line in httpx.get(f"{d.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _ok_rows(d: Daemon, project: str) -> int:
    return sum(1 for r in d.rows() if r["project"] == project and r["status"] == "ok")


def _fill(folder: Path) -> Path:
    """Fill the filesystem holding `folder` to its last byte; the filler file's path."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs to be MEMPROXY_HOME (root only: mount must be allowed)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode}); needs root")
    try:
        yield mount
    finally:
        kill_leftovers(mount)
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_keeps_every_row_says_degraded_and_loses_none_once_space_returns(
    tmp_path: Path, small_disk: Path, fake: ObservingUpstream
) -> None:
    # The whole home is on the small disk, its log included (memproxy refuses a symlinked log: a home
    # prepared by someone else could point it anywhere), so the log too goes quiet while the disk is full.
    home = small_disk
    d = start_daemon(home, config_text(fake.url))
    try:
        assert [_ask(d, "before") for _ in range(3)] == [200] * 3
        assert wait_for(lambda: _ok_rows(d, "before") == 3, 30)
        filler = _fill(home)

        statuses: list[int] = []
        degraded = None
        while len(statuses) < 300 and degraded is None:  # until the databank's free room is used up
            statuses.append(_ask(d, "full", PROMPT))
            health = _health(d)
            degraded = health if health["status"] == "degraded" else None
        assert degraded is not None, f"never degraded after {len(statuses)} requests\n{d.log_tail()}"
        statuses += [_ask(d, "full", PROMPT) for _ in range(20)]
        assert statuses == [200] * len(statuses)  # every request answered while the disk is full

        # SQLite may still fit a row into pages it freed, so how many wait varies; some always do
        health = _health(d)
        assert health["status"] == "degraded" and "full" in health["reason"], health
        assert health["databank"]["rows_waiting"] >= 1 and "row(s) wait" in health["reason"]
        status = d.status()
        assert status["status"] == "degraded" and "full" in status["reason"], status
        assert status["databank"]["rows_waiting"] >= 1
        assert _metric(d, "memproxy_databank_rows_waiting") >= 1
        assert _metric(d, "memproxy_databank_write_failures_total") >= 1
        waiting_at_peak = health["databank"]["rows_waiting"]

        filler.unlink()  # space returns
        assert wait_for(lambda: _health(d)["status"] == "healthy", 60), _health(d)
        written = wait_for(lambda: _ok_rows(d, "full") == len(statuses), 30)
        assert written, f"{_ok_rows(d, 'full')} of {len(statuses)} rows\n{d.log_tail()}"
        assert _ok_rows(d, "before") == 3
        assert _health(d)["databank"]["rows_lost"] == 0
        figure(
            "disk_full",
            requests_while_full=len(statuses),
            answered_200=statuses.count(200),
            rows_waiting_at_peak=waiting_at_peak,
            rows_written_after=_ok_rows(d, "full"),
            rows_lost=len(statuses) - _ok_rows(d, "full"),
        )
    finally:
        d.down()


def _damage(db: Path, how: str) -> None:
    if how == "random-bytes":
        db.write_bytes(random.Random(14).randbytes(64 * 1024))
    else:
        damage_indexes(db, ("requests_started_at", "requests_status"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["index-pages", "random-bytes"])
def test_up_refuses_a_damaged_databank_in_one_sentence_and_db_recover_makes_it_usable(
    tmp_path: Path, fake: ObservingUpstream, how: str
) -> None:
    home = tmp_path / "home"
    d = start_daemon(home, config_text(fake.url))
    try:
        assert [_ask(d, "before") for _ in range(10)] == [200] * 10
        assert wait_for(lambda: _ok_rows(d, "before") == 10, 30)
    finally:
        assert d.down().returncode == 0
    _damage(home / "memproxy.db", how)

    up = d.up()
    assert up.returncode != 0
    message = up.stderr.strip()
    assert "Traceback" not in up.stderr + up.stdout
    assert "damaged" in message and "memproxy db recover" in message, message
    assert message.count("\n") == 0 and message.count(". ") == 0, message  # one sentence
    check = d.cli("db", "check", "--json")
    assert check.returncode == 1 and json.loads(check.stdout)["ok"] is False

    recover = d.cli("db", "recover")
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert list(home.glob("memproxy.db.damaged-*")), "the damaged file is kept aside"
    assert d.cli("db", "check").returncode == 0
    started = d.up()
    try:
        assert started.returncode == 0, started.stdout + started.stderr + d.log_tail()
        assert _ask(d, "after") == 200
        assert wait_for(lambda: _ok_rows(d, "after") == 1, 30)
        kept = _ok_rows(d, "before")
        assert kept == (10 if how == "index-pages" else 0)  # a damaged index costs no row
        assert _health(d)["status"] == "healthy"
        figure(f"damaged_databank_{how}", up_exit=up.returncode, rows_recovered=kept, message=json.dumps(message))
    finally:
        d.down()


_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@pytest.mark.slow
def test_rows_a_write_lock_held_past_the_busy_timeout_keeps_out_are_written_after_it(
    tmp_path: Path, fake: ObservingUpstream
) -> None:
    home = tmp_path / "home"
    d = start_daemon(home, config_text(fake.url))
    holder = None
    try:
        assert _ask(d, "before") == 200
        assert wait_for(lambda: _ok_rows(d, "before") == 1, 30)
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(home / "memproxy.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        statuses = [_ask(d, "locked") for _ in range(10)]
        assert statuses == [200] * 10
        health = wait_for(lambda: (h := _health(d))["status"] == "degraded" and h, 60)
        assert health and "write lock" in health["reason"], health
        status = d.status()
        assert status["status"] == "degraded" and status["databank"]["rows_waiting"] >= 1, status
        statuses += [_ask(d, "locked") for _ in range(5)]  # still answered, still kept
        assert statuses == [200] * 15
        # held for two more of the writer's retries, each a full busy_timeout
        failures = _health(d)["databank"]["write_failures"]
        assert wait_for(lambda: _health(d)["databank"]["write_failures"] >= failures + 2, 60)
        assert _ok_rows(d, "locked") == 0
        waiting = _health(d)["databank"]["rows_waiting"]

        holder.communicate("\n", timeout=30)
        assert wait_for(lambda: _ok_rows(d, "locked") == 15, 60), d.log_tail()
        assert wait_for(lambda: _health(d)["status"] == "healthy", 30)
        assert d.status()["status"] == "healthy"
        figure("write_lock", requests_while_locked=15, rows_waiting=waiting, rows_written_after=15, rows_lost=0)
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        d.down()


def test_a_spool_left_by_a_stopped_daemon_is_written_at_the_next_start(tmp_path: Path, fake: ObservingUpstream) -> None:
    from daemon.usage.record import UsageRecord
    from daemon.usage.spool import Spool, spool_path

    home = tmp_path / "home"
    home.mkdir()
    left = [UsageRecord(project="spooled") for _ in range(4)]
    Spool(spool_path(home / "memproxy.db")).append(left)
    assert "4 usage row(s) wait in the spool" in Daemon(home, 0).status()["reason"]
    d = start_daemon(home, config_text(fake.url))
    try:
        assert wait_for(lambda: _ok_rows(d, "spooled") == 4, 30)
        assert not spool_path(home / "memproxy.db").exists()
    finally:
        d.down()
