"""What the databank says each project spent this day, week and month: the figures budgets start from.

`spent_now` sums `cost_usd` since the start of each current period, by project and by (project,
model), in one read-only query; the daemon seeds its ledger from it and `memproxy budget` prints
it, so both count what `memproxy stats` counts. `budget_rows` is `memproxy budget --json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.budgets.table import BY, BudgetTable, Limit
from daemon.usage.query import fetch_all
from daemon.usage.record import iso_utc
from daemon.usage.stats import period_bounds

# (project, model or None for the whole project, period) -> USD spent in the current period
Spent = dict[tuple[str, str | None, str], float]
_PERIODS = tuple(BY)


def spent_now(db_path: str | Path, now: datetime) -> Spent:
    """USD spent in the current day, week and month, by project and by (project, model)."""
    starts = [iso_utc(period_bounds(BY[p], now)[1]) for p in _PERIODS]
    sums = ", ".join("SUM(CASE WHEN started_at >= ? THEN cost_usd END)" for _ in _PERIODS)
    rows = fetch_all(
        db_path,
        f"SELECT project, model, {sums} FROM requests"
        " WHERE started_at >= ? AND cost_usd IS NOT NULL GROUP BY project, model",
        (*starts, min(starts)),
    )
    spent: Spent = {}
    for row in rows:
        project, model = row[0], row[1]
        for i, period in enumerate(_PERIODS):
            amount = row[2 + i] or 0.0
            if amount:
                spent[(project, None, period)] = spent.get((project, None, period), 0.0) + amount
                if model is not None:
                    spent[(project, model, period)] = spent.get((project, model, period), 0.0) + amount
    return spent


def limit_row(limit: Limit, spent: float, now: datetime) -> dict[str, Any]:
    """One limit as `memproxy budget --json` and the daemon print it."""
    _, start, end = limit.bounds(now)
    return {
        "project": limit.project,
        "model": limit.model,
        "period": limit.period,
        "limit_usd": limit.usd,
        "spent_usd": round(spent, 6),
        "percent": round(100.0 * spent / limit.usd, 1) if limit.usd else (100.0 if spent else 0.0),
        "soft": limit.soft,
        "period_start": start.isoformat(timespec="seconds"),
        "resets_at": end.isoformat(timespec="seconds"),
    }


def budget_rows(
    db_path: str | Path, table: BudgetTable, projects: Iterable[str], now: datetime
) -> list[dict[str, Any]]:
    """Every limit of `projects` with what the databank says was spent against it."""
    spent = spent_now(db_path, now) if not table.empty else {}
    return [
        limit_row(limit, spent.get((limit.project, limit.model, limit.period), 0.0), now)
        for project in sorted(set(projects))
        for limit in table.all_limits(project)
    ]


def percent_by_project(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The highest percent of any limit of each project (for `status` and `ports`)."""
    best: dict[str, float] = {}
    for row in rows:
        best[row["project"]] = max(best.get(row["project"], 0.0), row["percent"])
    return best
