"""The databank read straight from SQLite: rows in flight too (which `memproxy logs` may hide), integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from daemon.usage.record import UsageRecord
from daemon.usage.writer import UsageWriter


def write_records(db: Path, *records: UsageRecord) -> None:
    """`records` written to the databank at `db` through the real writer thread."""
    writer = UsageWriter(db)
    writer.start()
    for record in records:
        writer.submit(record)
    assert writer.close()


def db_rows(home: Path, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of the databank read straight from SQLite (in_flight ones too, which `logs` may hide)."""
    db = home / "memproxy.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM requests WHERE {where}", args)]
    finally:
        conn.close()


def integrity(home: Path) -> str:
    conn = sqlite3.connect(home / "memproxy.db", timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def damage_indexes(db: Path, names: tuple[str, ...] = ("requests_started_at", "requests_status")) -> None:
    """Overwrite the root pages of the databank's indexes `names` with noise (a damaged file, as a disk leaves it)."""
    import random

    conn = sqlite3.connect(db)
    try:
        roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'index'").fetchall())
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()
    noise = random.Random(14)
    with open(db, "r+b") as f:
        for name in names:
            f.seek((roots[name] - 1) * page_size)
            f.write(noise.randbytes(page_size))
