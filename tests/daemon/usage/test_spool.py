"""The spool and the backlog: rows the databank could not take, kept in order, never torn, never doubled."""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from pathlib import Path

import pytest

from daemon.usage.backlog import INTERRUPTED_ERROR, Backlog
from daemon.usage.record import UsageRecord
from daemon.usage.spool import Spool, count_rows, spool_path


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(spool_path(tmp_path / "memproxy.db"))


def _ids(batches: list[tuple[list[UsageRecord], int]]) -> list[str]:
    return [r.id for batch, _ in batches for r in batch]


def test_the_spool_lives_beside_the_databank_owner_only_and_round_trips_a_row(spool: Spool, tmp_path: Path) -> None:
    assert spool.path == tmp_path / "memproxy-spool.jsonl"
    record = UsageRecord(
        project="p", stream=True, input_tokens=7, cost_usd=0.25, request_json='{"a": "é\\n"}', response_text="hi"
    )
    spool.append([record])
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    [(batch, end)] = list(spool.batches(10))
    assert batch == [record]
    assert end == spool.path.stat().st_size
    assert spool.rows == count_rows(spool.path) == 1


def test_an_existing_spool_file_is_narrowed_to_owner_only(spool: Spool) -> None:
    spool.path.write_bytes(b"")
    spool.path.chmod(0o644)
    spool.append([UsageRecord()])
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600


def test_a_line_a_crash_cut_short_is_skipped_and_never_glued_to_the_next_row(spool: Spool) -> None:
    first, second = UsageRecord(), UsageRecord()
    spool.append([first])
    with open(spool.path, "ab") as f:
        f.write(b'{"id": "half-writ')  # the daemon died mid-append
    spool.append([second])
    assert _ids(list(Spool(spool.path).batches(10))) == [first.id, second.id]


def test_an_append_the_disk_refuses_leaves_the_file_as_it_was(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    spool.append([UsageRecord()])
    before = spool.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        spool.append([UsageRecord(), UsageRecord()])
    monkeypatch.undo()
    assert spool.path.read_bytes() == before
    assert spool.rows == 1


def test_the_backlog_drains_spool_then_memory_in_submission_order(spool: Spool) -> None:
    backlog = Backlog(spool, memory_rows=3)
    records = [UsageRecord(input_tokens=i) for i in range(10)]
    backlog.add(records[:4])
    assert backlog.over_bound
    assert backlog.spill()
    assert (len(backlog.memory), spool.rows, len(backlog)) == (0, 4, 4)
    backlog.add(records[4:])
    written: list[UsageRecord] = []
    assert backlog.drain(written.extend, batch_size=3) == 10
    assert written == records
    assert len(backlog) == 0 and not spool.path.exists()


def test_a_drain_that_fails_midway_resumes_where_it_stopped(spool: Spool) -> None:
    backlog = Backlog(spool)
    records = [UsageRecord() for _ in range(7)]
    backlog.add(records[:5])
    backlog.spill()
    backlog.add(records[5:])
    written: list[UsageRecord] = []
    calls = 0

    def flaky(batch: list[UsageRecord]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(errno.ENOSPC, "disk full")
        written.extend(batch)

    with pytest.raises(OSError):
        backlog.drain(flaky, batch_size=2)
    assert len(backlog) == 5  # the first two are written and off the backlog
    backlog.drain(flaky, batch_size=2)
    assert [r.id for r in written] == [r.id for r in records]  # each once, in order


def test_memory_past_its_hard_bound_loses_rows_and_counts_them(spool: Spool) -> None:
    backlog = Backlog(spool, max_memory_bytes=3 * 1024)
    lost = backlog.add(UsageRecord(request_json="x" * 400) for _ in range(10))
    assert lost == backlog.lost > 0
    assert len(backlog.memory) + lost == 10


def test_in_flight_rows_a_previous_daemon_spooled_are_replayed_as_interrupted(spool: Spool) -> None:
    dead = UsageRecord(status="in_flight", stream=True)
    ended = UsageRecord(status="in_flight")
    spool.append([dead, ended, dataclasses.replace(ended, status="ok", output_tokens=3)])
    backlog = Backlog(Spool(spool.path))  # the next daemon's
    live = UsageRecord(status="in_flight")
    backlog.add([live])
    written: list[UsageRecord] = []
    backlog.drain(written.extend, batch_size=10)
    assert [(r.id, r.status) for r in written] == [
        (dead.id, "interrupted"),
        (ended.id, "interrupted"),
        (ended.id, "ok"),
        (live.id, "in_flight"),  # this daemon's own request is still running
    ]
    assert written[0].error == INTERRUPTED_ERROR
