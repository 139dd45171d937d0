"""`logging.retention_days`: old rows (and their full-text entries) are pruned; bodies may be absent."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.usage.query import RowFilter, recent
from daemon.usage.record import UsageRecord
from daemon.usage.retention import prune, prune_daily
from tests.support.databank import write_records

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)


def _day(day: int) -> str:
    return f"2025-03-{day:02d}T12:00:00.000Z"


def test_rows_older_than_the_retention_go_with_their_index_entries(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    write_records(
        db,
        *(
            UsageRecord(id=f"d{day}", started_at=_day(day), request_json=f'{{"c": "word{day} kiwi"}}')
            for day in range(1, 31)
        ),
    )
    assert prune(db, 10, NOW, batch=7) == 20  # several batches
    assert [r["id"] for r in recent(db, limit=None)] == [f"d{day}" for day in range(21, 31)]
    assert recent(db, row_filter=RowFilter(search="word5")) == []
    assert len(recent(db, limit=None, row_filter=RowFilter(search="kiwi"))) == 10
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO requests_fts (requests_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT COUNT(*) FROM requests_fts_docsize").fetchone() == (10,)
    conn.close()
    assert prune(db, 10, NOW) == 0


def test_no_retention_or_no_databank_prunes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    assert prune(db, 1, NOW) == 0 and not db.exists()
    write_records(db, UsageRecord(started_at=_day(1)))
    assert prune(db, None, NOW) == 0 and prune(db, 0, NOW) == 0
    assert len(recent(db)) == 1


def test_rows_without_bodies_are_kept_and_counted(tmp_path: Path) -> None:
    # store_prompts: false — the routes record no bodies; everything else is still there.
    db = tmp_path / "memproxy.db"
    write_records(db, UsageRecord(id="quiet", input_tokens=5, cost_usd=0.1, request_json=None, response_text=None))
    (row,) = recent(db)
    assert (row["request_json"], row["response_text"], row["input_tokens"]) == (None, None, 5)
    assert recent(db, row_filter=RowFilter(search="anything")) == []


async def _until(db: Path, ids: list[str]) -> None:
    for _ in range(500):
        if [r["id"] for r in recent(db)] == ids:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still {[r['id'] for r in recent(db)]}")


@pytest.mark.asyncio
async def test_prune_daily_prunes_at_once_then_on_its_interval(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    write_records(db, UsageRecord(id="old", started_at="2000-01-01T00:00:00.000Z"), UsageRecord(id="new"))
    task = asyncio.create_task(prune_daily(db, 30, interval_s=0.05))
    await _until(db, ["new"])
    write_records(db, UsageRecord(id="older", started_at="1999-01-01T00:00:00.000Z"))
    await _until(db, ["new"])  # the next round took it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await prune_daily(db, None)  # no retention: returns at once
