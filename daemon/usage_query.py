"""Reading the usage databank for `memproxy logs` and friends.

Read commands open the database read-only and never create it: no databank yet means no rows.
Filters become a WHERE clause with `?` parameters; values are never formatted into SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.usage_record import ERROR_STATUSES, iso_utc
from daemon.usage_store import DatabankError

# Readers are not blocked by the WAL writer; this only covers an exclusive lock or a checkpoint.
_READ_BUSY_TIMEOUT_MS = 2000


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which rows a listing shows; the default shows all."""

    project: str | None = None
    model: str | None = None  # as requested or as resolved
    since: datetime | None = None  # started at or after (naive is taken as UTC)
    errors: bool = False  # only rows whose status is in ERROR_STATUSES
    search: str | None = None  # substring of the request or response, ASCII case-insensitive


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(row_filter: RowFilter) -> tuple[str, list[object]]:
    """`(" WHERE ...", params)` for `row_filter`, or `("", [])` when it filters nothing."""
    conditions: list[str] = []
    params: list[object] = []
    if row_filter.project is not None:
        conditions.append("project = ?")
        params.append(row_filter.project)
    if row_filter.model is not None:
        conditions.append("(model = ? OR resolved_model = ?)")
        params += [row_filter.model, row_filter.model]
    if row_filter.since is not None:
        # started_at has one fixed-width UTC format, so comparing text compares time.
        conditions.append("started_at >= ?")
        params.append(iso_utc(row_filter.since))
    if row_filter.errors:
        conditions.append(f"status IN ({', '.join('?' for _ in ERROR_STATUSES)})")
        params += ERROR_STATUSES
    if row_filter.search:
        pattern = _like_pattern(row_filter.search)
        conditions.append("(request_json LIKE ? ESCAPE '\\' OR response_text LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    if not conditions:
        return "", []
    return " WHERE " + " AND ".join(conditions), params


def connect_readonly(db_path: str | Path) -> sqlite3.Connection | None:
    """A read-only connection to the databank, or None if it does not exist yet."""
    path = Path(db_path).expanduser()
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute(f"PRAGMA busy_timeout = {_READ_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise DatabankError(f"cannot open the usage databank {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn


def _has_requests_table(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests'")
    return found.fetchone() is not None


def _as_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    if "stream" in data:
        data["stream"] = bool(data["stream"])
    return data


def recent(db_path: str | Path, limit: int | None = 20, row_filter: RowFilter | None = None) -> list[dict[str, Any]]:
    """The last `limit` requests (None: all) matching `row_filter`, newest last, as dicts of columns."""
    conn = connect_readonly(db_path)
    if conn is None:
        return []
    where, params = where_clause(row_filter or RowFilter())
    # The newest `limit` rows, then back to oldest-first; rowid breaks ties within a millisecond.
    sql = (
        "SELECT * FROM (SELECT rowid AS _rowid, * FROM requests"
        f"{where} ORDER BY started_at DESC, rowid DESC LIMIT ?) ORDER BY started_at, _rowid"
    )
    try:
        if not _has_requests_table(conn):
            return []
        rows = conn.execute(sql, [*params, -1 if limit is None else max(limit, 0)]).fetchall()
    except sqlite3.Error as exc:
        raise DatabankError(f"cannot read the usage databank {db_path}: {exc}") from exc
    finally:
        conn.close()
    result = []
    for row in rows:
        data = _as_dict(row)
        del data["_rowid"]
        result.append(data)
    return result


def totals_by_project(db_path: str | Path, since: str) -> list[dict[str, Any]]:
    """Requests and cost per project since the ISO timestamp `since` (for `status` and `ports`)."""
    conn = connect_readonly(db_path)
    if conn is None:
        return []
    try:
        if not _has_requests_table(conn):
            return []
        rows = conn.execute(
            "SELECT project, COUNT(*) AS requests, COALESCE(SUM(cost_usd), 0.0) AS cost_usd"
            " FROM requests WHERE started_at >= ? AND status != 'in_flight' GROUP BY project ORDER BY project",
            (since,),
        ).fetchall()
        return [dict(row) for row in rows]
    except sqlite3.Error as exc:
        raise DatabankError(f"cannot read the usage databank {db_path}: {exc}") from exc
    finally:
        conn.close()
