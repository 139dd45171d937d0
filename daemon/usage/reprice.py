"""Re-pricing: stored rows priced again from their stored usage, after the prices changed.

A LiteLLM upgrade brings a new price map; a `model_info` price in the config overrides an entry.
Either way the usage on each row is all that pricing needs (`daemon.usage.pricing`), so costs can be
recomputed at any time. The report says what changed: rows, the old and the new total, per model.
Rows still in flight are left to the daemon, which prices them when they end.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.sqlite import transaction
from daemon.usage.pricing import Prices
from daemon.usage.query import RowFilter, where_clause
from daemon.usage.record import COLUMNS, UsageRecord
from daemon.usage.store import open_db

# Costs closer than this are the same cost (float sums in another order).
_SAME = 1e-12
_BATCH = 1000


@dataclass(slots=True)
class ModelChange:
    """Rows of one model whose cost changed, and their totals before and after."""

    model: str
    rows: int = 0
    old_usd: float = 0.0
    new_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "rows": self.rows,
            "old_usd": round(self.old_usd, 6),
            "new_usd": round(self.new_usd, 6),
        }


@dataclass(slots=True)
class RepriceReport:
    """What a re-pricing found (and, unless `dry_run`, wrote)."""

    dry_run: bool
    rows: int = 0  # rows looked at
    changed: int = 0
    old_total_usd: float = 0.0  # of all rows looked at
    new_total_usd: float = 0.0
    models: dict[str, ModelChange] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        models = sorted(self.models.values(), key=lambda m: -abs(m.new_usd - m.old_usd))
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "changed": self.changed,
            "old_total_usd": round(self.old_total_usd, 6),
            "new_total_usd": round(self.new_total_usd, 6),
            "models": [m.as_dict() for m in models],
        }


def _differs(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(old - new) > _SAME


def reprice(
    db_path: str | Path,
    prices: Prices,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
) -> RepriceReport:
    """Price every finished row from `since` to `until` again; write the costs that changed unless `dry_run`."""
    report = RepriceReport(dry_run=dry_run)
    conn = open_db(db_path)
    try:
        updates = _changes(conn, prices, report, since, until)
        if not dry_run:
            for start in range(0, len(updates), _BATCH):
                with transaction(conn) as tx:
                    tx.executemany("UPDATE requests SET cost_usd = ? WHERE rowid = ?", updates[start : start + _BATCH])
    finally:
        conn.close()
    return report


def _changes(
    conn: sqlite3.Connection,
    prices: Prices,
    report: RepriceReport,
    since: datetime | None,
    until: datetime | None,
) -> list[tuple[float | None, int]]:
    where, params = where_clause(RowFilter(since=since, until=until))
    finished = f"{where} AND" if where else " WHERE"
    sql = f"SELECT rowid, {', '.join(COLUMNS)} FROM requests{finished} status != 'in_flight'"
    updates: list[tuple[float | None, int]] = []
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(_BATCH):
        for rowid, *values in rows:
            record = UsageRecord(**dict(zip(COLUMNS, values, strict=True)))
            old, new = record.cost_usd, prices.cost(record)
            report.rows += 1
            report.old_total_usd += old or 0.0
            report.new_total_usd += new or 0.0
            if not _differs(old, new):
                continue
            report.changed += 1
            name = record.resolved_model or record.model or "unknown"
            change = report.models.setdefault(name, ModelChange(name))
            change.rows += 1
            change.old_usd += old or 0.0
            change.new_usd += new or 0.0
            updates.append((new, rowid))
    return updates
