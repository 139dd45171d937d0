"""The writer when SQLite cannot take a batch: rows kept (memory, spool), said loudly, written once it can."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.observe.metrics import Metrics
from daemon.usage import integrity
from daemon.usage.record import UsageRecord
from daemon.usage.spool import Spool, spool_path
from daemon.usage.store import open_db
from daemon.usage.writer import UsageWriter
from tests.support.databank import damage_indexes, db_rows, write_records
from tests.support.polling import wait_for


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in db_rows(path.parent)}


def _fts_sound(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO requests_fts (requests_fts, rank) VALUES ('integrity-check', 1)")
        return True
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memproxy.db"


@pytest.fixture
def lock_holder(db_path: Path) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Another process's writer: holds BEGIN IMMEDIATE from `held` being set until `release` is."""
    open_db(db_path).close()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(60)
            conn.execute("COMMIT")
        finally:
            conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    yield held, release
    release.set()
    thread.join()


def test_rows_a_lock_held_past_the_busy_timeout_kept_out_are_written_after_it(
    db_path: Path, lock_holder: tuple[threading.Event, threading.Event]
) -> None:
    _, release = lock_holder
    writer = UsageWriter(db_path, busy_timeout_ms=50)
    writer.start()
    metrics = Metrics()
    metrics.watch_databank(writer.health)
    streams = [UsageRecord(status="in_flight", stream=True) for _ in range(5)]
    plain = [UsageRecord(project="p", request_json="hello locked world") for _ in range(20)]
    try:
        for record in [*streams, *plain]:
            writer.submit(record)
        for record in streams:
            writer.submit(dataclasses.replace(record, status="ok", output_tokens=9))
        health = wait_for(lambda: (h := writer.health())["rows_waiting"] == 30 and h, 30)
        assert health and health["status"] == "degraded"
        assert "write lock" in health["reason"] and "30 row(s) wait" in health["reason"]
        assert health["rows_lost"] == 0 and health["write_failures"] >= 1
        assert not writer.flush(timeout=0.2)  # flush means written, and they are not yet
        text = metrics.render().decode()
        assert "memproxy_databank_rows_waiting 30.0" in text
        assert "memproxy_databank_degraded 1.0" in text
        release.set()
        assert writer.flush(timeout=30)
        assert writer.health()["status"] == "healthy"
        assert "memproxy_databank_rows_waiting 0.0" in metrics.render().decode()
    finally:
        writer.close()
    rows = _rows(db_path)
    assert len(rows) == 25
    assert {rows[r.id]["status"] for r in streams} == {"ok"}
    assert writer.dropped == 0
    assert _fts_sound(db_path)


def test_a_damaged_databank_spools_the_rows_and_recover_then_writes_them(db_path: Path) -> None:
    before = [UsageRecord(project="before") for _ in range(30)]
    write_records(db_path, *before)
    damage_indexes(db_path)
    assert integrity.damage(db_path) is not None

    writer = UsageWriter(db_path)
    writer.start()  # the schema pages are intact: only writing finds the damage
    during = [UsageRecord(project="during") for _ in range(12)]
    for record in during:
        writer.submit(record)
    health = wait_for(lambda: (h := writer.health())["rows_waiting"] == 12 and h, 30)
    assert health and "damaged" in health["reason"]
    assert writer.close(timeout=30)
    spool = spool_path(db_path)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    assert Spool(spool).rows == 12  # kept for the next start

    result = integrity.recover(db_path)
    assert result.rows == 30 and result.kept_at.exists()
    assert integrity.damage(db_path) is None

    write_records(db_path)  # the next daemon's writer: replays the spool first
    rows = _rows(db_path)
    assert set(rows) == {r.id for r in before + during}
    assert not spool.exists()
    assert _fts_sound(db_path)


def test_a_replayed_in_flight_row_never_undoes_the_final_one(db_path: Path) -> None:
    record = UsageRecord(status="in_flight", stream=True, request_json="final words")
    final = dataclasses.replace(record, status="ok", output_tokens=5, response_text="done")
    write_records(db_path, record, final)
    # a spool holding the request's in_flight row again, and a row the databank never saw
    fresh = UsageRecord(project="fresh")
    Spool(spool_path(db_path)).append([record, fresh, fresh])
    write_records(db_path)
    rows = _rows(db_path)
    assert (rows[record.id]["status"], rows[record.id]["output_tokens"]) == ("ok", 5)
    assert set(rows) == {record.id, fresh.id}  # written once, not twice
    # an interrupted row ends an in_flight one, never a final one
    cut = UsageRecord(status="in_flight")
    write_records(
        db_path, cut, dataclasses.replace(cut, status="interrupted"), dataclasses.replace(final, status="interrupted")
    )
    rows = _rows(db_path)
    assert (rows[cut.id]["status"], rows[record.id]["status"]) == ("interrupted", "ok")
    assert _fts_sound(db_path)
