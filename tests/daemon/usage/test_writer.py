"""The background writer: batches, replaces, survives locks and bad rows."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from pathlib import Path

import pytest

from daemon.usage.record import UsageRecord
from daemon.usage.store import open_db
from daemon.usage.writer import UsageWriter


def _rows(path: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {row["id"]: row for row in conn.execute("SELECT * FROM requests")}
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "memproxy.db"


@pytest.fixture
def writer(db_path: Path):  # type: ignore[no-untyped-def]
    w = UsageWriter(db_path)
    w.start()
    yield w
    w.close()


def test_a_thousand_rows_from_eight_threads_all_land_in_batches(writer: UsageWriter, db_path: Path) -> None:
    def produce(n: int) -> None:
        for i in range(125):
            writer.submit(UsageRecord(project=f"p{n}", input_tokens=i))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert writer.flush(timeout=10)
    rows = _rows(db_path)
    assert len(rows) == 1000
    assert writer.written == 1000
    assert 0 < writer.transactions < 1000 / 10  # batched, not one transaction per row
    assert sum(1 for r in rows.values() if r["project"] == "p3") == 125


def test_the_final_row_replaces_the_in_flight_one(writer: UsageWriter, db_path: Path) -> None:
    same_batch = UsageRecord(status="in_flight", stream=True, endpoint="/v1/messages")
    writer.submit(same_batch)
    writer.submit(dataclasses.replace(same_batch, status="ok", output_tokens=42, latency_ms=12.5))

    later_batch = UsageRecord(status="in_flight")
    writer.submit(later_batch)
    assert writer.flush()
    assert _rows(db_path)[later_batch.id]["status"] == "in_flight"
    writer.submit(dataclasses.replace(later_batch, status="error", http_status=502, error="upstream"))
    assert writer.flush()

    rows = _rows(db_path)
    assert len(rows) == 2
    first = rows[same_batch.id]
    assert (first["status"], first["output_tokens"], first["latency_ms"], first["stream"]) == (
        "ok",
        42,
        12.5,
        1,
    )
    assert (rows[later_batch.id]["status"], rows[later_batch.id]["http_status"]) == ("error", 502)


def test_close_writes_everything_pending_and_can_be_called_twice(db_path: Path) -> None:
    # a gathering window far longer than close's timeout: close returns True only if it cut it short
    writer = UsageWriter(db_path, flush_interval=60.0)
    writer.start()
    for _ in range(50):
        writer.submit(UsageRecord())
    assert writer.close(timeout=5)
    assert len(_rows(db_path)) == 50
    assert not writer.running
    assert writer.close()

    writer.submit(UsageRecord())  # after close: dropped, never raised
    assert writer.dropped == 1


def test_records_submitted_before_start_are_written(db_path: Path) -> None:
    writer = UsageWriter(db_path)
    record = UsageRecord()
    writer.submit(record)
    assert not writer.flush(timeout=0.1)  # nothing can write it yet
    writer.start()
    assert writer.close()
    assert record.id in _rows(db_path)


def _hold_exclusive_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    """Hold an exclusive lock on `path` until `release` is set (at most 10 s)."""
    blocker = open_db(path)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        blocker.execute("COMMIT")
    finally:
        blocker.close()


@pytest.mark.parametrize("busy_timeout_ms", [5000, 50], ids=["sqlite-waits", "writer-retries"])
def test_rows_land_after_another_connection_held_an_exclusive_lock(
    db_path: Path, busy_timeout_ms: int, caplog: pytest.LogCaptureFixture
) -> None:
    writer = UsageWriter(db_path, busy_timeout_ms=busy_timeout_ms)
    writer.start()
    locked, release = threading.Event(), threading.Event()
    blocker = threading.Thread(target=_hold_exclusive_lock, args=(db_path, locked, release))
    blocker.start()
    try:
        assert locked.wait(5)
        for _ in range(20):
            writer.submit(UsageRecord())
        # the caller never waits for the lock: all 20 are queued while it is still held
        assert blocker.is_alive()
        assert not writer.flush(timeout=0.3)  # the rows really do wait for the lock
        release.set()
        assert writer.flush(timeout=10)
    finally:
        release.set()
        blocker.join()
        writer.close()
    assert len(_rows(db_path)) == 20
    assert writer.dropped == 0
    retried = any("write lock" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
    assert retried == (busy_timeout_ms < 500)


def test_a_bad_row_costs_only_itself_and_the_thread_lives_on(db_path: Path) -> None:
    writer = UsageWriter(db_path)
    good1, good2 = UsageRecord(), UsageRecord()
    bad = UsageRecord(request_json=object())  # type: ignore[arg-type]
    for record in (good1, bad, good2):  # queued before start, so they share a batch
        writer.submit(record)
    writer.start()
    assert writer.flush()
    assert writer.running
    assert writer.dropped == 1
    assert set(_rows(db_path)) == {good1.id, good2.id}

    after = UsageRecord()
    writer.submit(after)
    assert writer.close()
    assert after.id in _rows(db_path)


def test_an_unusable_database_fails_start_loudly(tmp_path: Path) -> None:
    from daemon.errors import DatabankError

    path = tmp_path / "memproxy.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabankError, match="cannot open the usage databank"):
        UsageWriter(path).start()
