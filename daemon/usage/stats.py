"""`memproxy stats`: requests, tokens, cost, latency percentiles and error rate per group.

Fast at a million rows because nothing is sorted: m004's covering indexes are ordered by group
key and latency bucket, so one index scan yields, per (group, bucket), counts and sums. Latency
percentiles come from those histograms, rounded down to a bucket (1 ms below 1 s, 10 ms below
10 s, then 1%), and the total row is the sum of the groups' histograms.
Days, weeks and months are local-time ranges of `started_at`, each read bucket by bucket.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.usage.query import connect_readonly, has_table, read_error
from daemon.usage.record import ERROR_STATUSES, iso_utc
from daemon.usage.store import LATENCY_BUCKET

KEY_GROUPS = ("project", "model", "client")
TIME_GROUPS = ("day", "week", "month")
GROUPS = KEY_GROUPS + TIME_GROUPS

_ERRORS = ", ".join(f"'{status}'" for status in ERROR_STATUSES)  # constants, not user input
_AGGREGATES = (
    "COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
    f"SUM(cache_write_tokens), TOTAL(cost_usd), SUM(status IN ({_ERRORS})), "
    "SUM(cache_write_1h_tokens), SUM(reasoning_tokens), COUNT(cost_usd)"
)
# A databank only an older memproxy has opened has no m006 columns: their sums are 0.
_AGGREGATES_BEFORE_M006 = _AGGREGATES.replace("SUM(cache_write_1h_tokens), SUM(reasoning_tokens)", "0, 0")


def _aggregates(conn: sqlite3.Connection) -> str:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    return _AGGREGATES if "reasoning_tokens" in columns else _AGGREGATES_BEFORE_M006


@dataclass(slots=True)
class _Group:
    """Running totals for one row of the report."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    errors: int = 0
    cache_write_1h_tokens: int = 0  # of cache_write_tokens
    reasoning_tokens: int = 0  # of output_tokens
    priced: int = 0  # requests with a cost (an unpriced model's have none)
    latency: Counter[int] = field(default_factory=Counter)  # requests per latency bucket

    def add(self, bucket: int, values: tuple[Any, ...]) -> None:
        count, inp, out, cache_read, cache_write, cost, errors, write_1h, reasoning, priced = values
        self.requests += count
        self.input_tokens += inp or 0
        self.output_tokens += out or 0
        self.cache_read_tokens += cache_read or 0
        self.cache_write_tokens += cache_write or 0
        self.cost_usd += cost
        self.errors += errors or 0
        self.cache_write_1h_tokens += write_1h or 0
        self.reasoning_tokens += reasoning or 0
        self.priced += priced or 0
        if bucket >= 0:
            self.latency[bucket] += count

    def merge(self, other: _Group) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd
        self.errors += other.errors
        self.cache_write_1h_tokens += other.cache_write_1h_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.priced += other.priced
        self.latency.update(other.latency)

    def percentile(self, q: float) -> float | None:
        """The q-quantile (nearest rank) of latency, rounded down to its bucket; None for no latencies."""
        n = self.latency.total()
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n))
        seen = 0
        for bucket in sorted(self.latency):
            seen += self.latency[bucket]
            if seen >= rank:
                return float(bucket)
        raise AssertionError("rank beyond the histogram")  # pragma: no cover

    def as_row(self, key: str | None) -> dict[str, Any]:
        p50, p95 = self.percentile(0.50), self.percentile(0.95)
        return {
            "key": key,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            # null when no request of the group has a price (an unpriced model), as its rows say
            "cost_usd": None if self.requests and not self.priced else round(self.cost_usd, 6),
            "latency_p50_ms": None if p50 is None else round(p50, 1),
            "latency_p95_ms": None if p95 is None else round(p95, 1),
            "error_rate": round(self.errors / self.requests, 4) if self.requests else 0.0,
        }


def periods(by: str, since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    """`(key, start, end)` for each local day, week (from Monday) or month overlapping [since, until)."""
    result: list[tuple[str, datetime, datetime]] = []
    key, start, end = period_bounds(by, since)
    while start < until:
        result.append((key, max(start, since), min(end, until)))
        key, start, end = period_bounds(by, end)
    return result


def period_bounds(by: str, moment: datetime) -> tuple[str, datetime, datetime]:
    """`(key, start, end)` of the local day, week (from Monday) or month holding `moment`."""
    day = moment.astimezone().date()
    if by == "week":
        day -= timedelta(days=day.weekday())
    elif by == "month":
        day = day.replace(day=1)
    key = day.strftime("%Y-%m") if by == "month" else day.isoformat()
    return key, _local_midnight(day), _local_midnight(_next(by, day))


def _next(by: str, day: date) -> date:
    if by == "day":
        return day + timedelta(days=1)
    if by == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local_midnight(day: date) -> datetime:
    # A naive datetime's astimezone() reads it as local time, with the DST offset of that date.
    return datetime(day.year, day.month, day.day).astimezone()


def usage_stats(
    db_path: str | Path,
    by: str = "project",
    since: datetime | None = None,
    until: datetime | None = None,
    project: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The `stats --json` document: `{"by", "rows": [...], "total": {...}}`; in-flight rows are left out.

    `since` defaults to 7 days before `now`, `until` to no end. Naive datetimes are taken as UTC.
    """
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}: use one of {', '.join(GROUPS)}")
    now = now or datetime.now().astimezone()
    since = _aware(since) if since is not None else now - timedelta(days=7)
    until = _aware(until) if until is not None else None
    groups: dict[str | None, _Group] = {}
    if until is None or since < until:
        conn = connect_readonly(db_path)
        if conn is not None:
            try:
                if has_table(conn, "requests"):
                    groups = _read(conn, by, since, until, project, now)
            except sqlite3.Error as exc:
                raise read_error(db_path, exc) from exc
            finally:
                conn.close()
    total = _Group()
    for group in groups.values():
        total.merge(group)
    rows = [group.as_row(key) for key, group in groups.items()]
    if by in KEY_GROUPS:  # the most expensive first; time groups stay in time order
        rows.sort(key=lambda row: (-(row["cost_usd"] or 0), -row["requests"], str(row["key"])))
    return {"by": by, "rows": rows, "total": total.as_row("total")}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read(
    conn: sqlite3.Connection,
    by: str,
    since: datetime,
    until: datetime | None,
    project: str | None,
    now: datetime,
) -> dict[str | None, _Group]:
    if by in KEY_GROUPS:
        return _by_key(conn, by, since, until, project)
    # Open-ended: through tomorrow, so a row stamped by a clock slightly ahead is still counted.
    end = until if until is not None else max(now, since) + timedelta(days=1)
    return _by_time(conn, periods(by, since, end), project)


def _filters(since: datetime | None, until: datetime | None, project: str | None) -> tuple[str, list[object]]:
    sql, params = "", list[object]()
    if since is not None:
        sql += " AND started_at >= ?"
        params.append(iso_utc(since))
    if until is not None:
        sql += " AND started_at < ?"
        params.append(iso_utc(until))
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    return sql + " AND status != 'in_flight'", params


def _indexed_by(conn: sqlite3.Connection, name: str) -> str:
    # A databank that only an older memproxy has opened lacks the index: still right, just slower.
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()
    return f" INDEXED BY {name}" if found else ""


def _by_key(
    conn: sqlite3.Connection, by: str, since: datetime | None, until: datetime | None, project: str | None
) -> dict[str | None, _Group]:
    # These indexes are not in time order, so each entry is checked against the time bounds:
    # drop those that exclude nothing (say, --since 30d on a databank a week old).
    first, last = conn.execute("SELECT MIN(started_at), MAX(started_at) FROM requests").fetchone()
    if first is not None and iso_utc(since) <= first:
        since = None
    if until is not None and last is not None and iso_utc(until) > last:
        until = None
    where, params = _filters(since, until, project)
    sql = (
        f"SELECT {by}, {LATENCY_BUCKET}, {_aggregates(conn)} FROM requests{_indexed_by(conn, f'requests_stats_{by}')}"
        f" WHERE 1{where} GROUP BY 1, 2"
    )
    groups: dict[str | None, _Group] = {}
    for key, bucket, *values in conn.execute(sql, params):
        groups.setdefault(key, _Group()).add(bucket, tuple(values))
    return groups


def _by_time(
    conn: sqlite3.Connection,
    spans: Iterable[tuple[str, datetime, datetime]],
    project: str | None,
) -> dict[str | None, _Group]:
    time_index = _indexed_by(conn, "requests_stats_time")
    buckets = [str(b) for b in _buckets(conn)] if time_index else []
    # A busy period: listing the buckets lets SQLite seek each one's slice of the time range in
    # the bucket-ordered index and aggregate with no sort. A quiet one (fewer rows than buckets,
    # e.g. each day of a year): reading its rows by time and sorting them is cheaper.
    busy = f"FROM requests{time_index} WHERE {LATENCY_BUCKET} IN ({','.join(buckets)}){{where}}"
    quiet = f"FROM requests{_indexed_by(conn, 'requests_started_at')} WHERE 1{{where}}"
    count = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE started_at >= ? AND started_at < ? LIMIT {len(buckets)})"
    )
    aggregates = _aggregates(conn)
    groups: dict[str | None, _Group] = {}
    for key, start, end in spans:
        where, params = _filters(start, end, project)
        source = quiet
        if buckets:
            (rows,) = conn.execute(count, params[:2]).fetchone()
            if rows == 0:
                continue
            source = busy if rows >= len(buckets) else quiet
        group = _Group()
        sql = f"SELECT {LATENCY_BUCKET}, {aggregates} {source.format(where=where)} GROUP BY 1"
        for bucket, *values in conn.execute(sql, params):
            group.add(bucket, tuple(values))
        if group.requests:
            groups[key] = group
    return groups


def _buckets(conn: sqlite3.Connection) -> Iterator[int]:
    """The latency buckets present, one index seek each."""
    sql = (
        f"WITH RECURSIVE b(v) AS (SELECT MIN({LATENCY_BUCKET}) FROM requests INDEXED BY requests_stats_time"
        f" UNION ALL SELECT (SELECT MIN({LATENCY_BUCKET}) FROM requests INDEXED BY requests_stats_time"
        f" WHERE {LATENCY_BUCKET} > b.v) FROM b WHERE b.v IS NOT NULL) SELECT v FROM b WHERE v IS NOT NULL"
    )
    for (value,) in conn.execute(sql):
        yield int(value)
