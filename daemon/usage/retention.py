"""`logging.retention_days`: delete databank rows older than that, at start and once a day.

Rows go in batches, each its own short transaction, so the usage writer (which retries a locked
database) is never held up for long. The full-text index loses the rows with them (m003's delete
trigger).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.sqlite import transaction
from daemon.usage.record import iso_utc
from daemon.usage.store import open_db

log = logging.getLogger("memproxy.retention")

BATCH = 5000
DAY_S = 24 * 3600.0


def prune(db_path: str | Path, retention_days: int | None, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete rows started more than `retention_days` before `now`; return how many. None or 0 keeps all."""
    if not retention_days or retention_days <= 0 or not Path(db_path).exists():
        return 0
    cutoff = iso_utc((now or datetime.now(UTC)) - timedelta(days=retention_days))
    conn = open_db(db_path)
    deleted = 0
    try:
        while True:
            with transaction(conn):
                cursor = conn.execute(
                    "DELETE FROM requests WHERE rowid IN "
                    "(SELECT rowid FROM requests WHERE started_at < ? ORDER BY started_at LIMIT ?)",
                    (cutoff, batch),
                )
            deleted += cursor.rowcount
            if cursor.rowcount < batch:
                break
    finally:
        conn.close()
    if deleted:
        log.info("retention: deleted %d request(s) older than %d day(s)", deleted, retention_days)
    return deleted


async def prune_daily(db_path: str | Path, retention_days: int | None, interval_s: float = DAY_S) -> None:
    """Prune now and then every `interval_s` until cancelled (run it as a task for the daemon's life)."""
    if not retention_days:
        return
    while True:
        try:
            await asyncio.to_thread(prune, db_path, retention_days)
        except Exception:  # a failed prune is retried tomorrow; the daemon goes on
            log.exception("retention: pruning the usage databank failed")
        await asyncio.sleep(interval_s)
