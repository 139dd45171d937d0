"""Reading the usage databank for `memproxy logs` and friends.

Read commands open the database read-only and never create it: no databank yet means no rows.
Filters become a WHERE clause with `?` parameters; values are never formatted into SQL.
Search uses the databank's full-text index (m003) when it has one, else a LIKE scan.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon import sqlite
from daemon.errors import DatabankError
from daemon.usage.record import ERROR_STATUSES, iso_utc

# Readers are not blocked by the WAL writer; this only covers an exclusive lock or a checkpoint.
_READ_BUSY_TIMEOUT_MS = 2000
# Letters and digits, as FTS5's unicode61 tokenizer sees words (`_` separates them, too).
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which rows a listing shows; the default shows all."""

    project: str | None = None
    model: str | None = None  # as requested or as resolved
    since: datetime | None = None  # started at or after (naive is taken as UTC)
    errors: bool = False  # only rows whose status is in ERROR_STATUSES
    search: str | None = None  # words of the request or response (full-text), or a substring without an index
    client: str | None = None  # the client's short name (`aider`, `claude`), ASCII case-insensitive
    until: datetime | None = None  # started before (naive is taken as UTC)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def match_words(text: str) -> str | None:
    """An FTS5 query matching rows holding every word of `text` (as a word prefix); None if it has no words.

    Each word is quoted, so nothing typed can be FTS5 syntax (`"`, `*`, `NEAR`, `OR`, `:`...).
    """
    words = _WORD.findall(text)
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def where_clause(row_filter: RowFilter, *, fts: bool = False) -> tuple[str, list[object]]:
    """`(" WHERE ...", params)` for `row_filter`, or `("", [])` when it filters nothing.

    With `fts`, a search with words uses the `requests_fts` index instead of scanning with LIKE.
    """
    conditions: list[str] = []
    params: list[object] = []
    if row_filter.project is not None:
        conditions.append("project = ?")
        params.append(row_filter.project)
    if row_filter.model is not None:
        conditions.append("(model = ? OR resolved_model = ?)")
        params += [row_filter.model, row_filter.model]
    if row_filter.client:
        conditions.append("client = ? COLLATE NOCASE")
        params.append(row_filter.client)
    if row_filter.since is not None:
        # started_at has one fixed-width UTC format, so comparing text compares time.
        conditions.append("started_at >= ?")
        params.append(iso_utc(row_filter.since))
    if row_filter.until is not None:
        conditions.append("started_at < ?")
        params.append(iso_utc(row_filter.until))
    if row_filter.errors:
        conditions.append(f"status IN ({', '.join('?' for _ in ERROR_STATUSES)})")
        params += ERROR_STATUSES
    if row_filter.search:
        query = match_words(row_filter.search) if fts else None
        if query is not None:
            conditions.append("rowid IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)")
            params.append(query)
        else:
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
        conn = sqlite.connect_readonly(path, busy_timeout_ms=_READ_BUSY_TIMEOUT_MS)
    except sqlite3.Error as exc:
        raise DatabankError(f"cannot open the usage databank {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn


def read_error(db_path: str | Path, exc: sqlite3.Error) -> DatabankError:
    """The `DatabankError` to raise for `exc`, saying what to do when another process holds a lock."""
    reason = str(exc)
    if "locked" in reason or "busy" in reason:
        reason += " (another process holds a lock on it; try again in a moment)"
    return DatabankError(f"cannot read the usage databank {db_path}: {reason}")


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the databank has table `name` (an older or foreign database may not)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,))
    return found.fetchone() is not None


def _as_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    if "stream" in data:
        data["stream"] = bool(data["stream"])
    return data


def recent(db_path: str | Path, limit: int | None = 20, row_filter: RowFilter | None = None) -> list[dict[str, Any]]:
    """The last `limit` requests (None: all) matching `row_filter`, newest last, as dicts of columns."""
    rows, _ = recent_with_cursor(db_path, limit, row_filter)
    return rows


def recent_with_cursor(
    db_path: str | Path, limit: int | None = 20, row_filter: RowFilter | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Like `recent`, plus the databank's highest rowid: pass it to `newer` to follow new rows."""
    conn = connect_readonly(db_path)
    if conn is None:
        return [], 0
    try:
        if not has_table(conn, "requests"):
            return [], 0
        cursor = _last_rowid(conn)  # first: a row written meanwhile is left for `newer`
        where, params = where_clause(row_filter or RowFilter(), fts=has_table(conn, "requests_fts"))
        where = (where + " AND" if where else " WHERE") + " rowid <= ?"
        # The newest `limit` rows, then back to oldest-first; rowid breaks ties within a millisecond.
        sql = (
            "SELECT * FROM (SELECT rowid AS _rowid, * FROM requests"
            f"{where} ORDER BY started_at DESC, rowid DESC LIMIT ?) ORDER BY started_at, _rowid"
        )
        rows = conn.execute(sql, [*params, cursor, -1 if limit is None else max(limit, 0)]).fetchall()
    except sqlite3.Error as exc:
        raise read_error(db_path, exc) from exc
    finally:
        conn.close()
    return [_without_rowid(row) for row in rows], cursor


def newer(db_path: str | Path, after: int, row_filter: RowFilter | None = None) -> tuple[list[dict[str, Any]], int]:
    """Finished rows written after rowid `after` that match `row_filter`, in write order, and the new cursor.

    The writer replaces a request's `in_flight` row with its final one under a new rowid, so a
    follower sees each request once, when it ends.
    """
    conn = connect_readonly(db_path)
    if conn is None:
        return [], after
    try:
        if not has_table(conn, "requests"):
            return [], after
        cursor = _last_rowid(conn)
        where, params = where_clause(row_filter or RowFilter(), fts=has_table(conn, "requests_fts"))
        where = (where + " AND" if where else " WHERE") + " rowid > ? AND rowid <= ? AND status != 'in_flight'"
        sql = f"SELECT rowid AS _rowid, * FROM requests{where} ORDER BY rowid"
        rows = conn.execute(sql, [*params, after, cursor]).fetchall()
    except sqlite3.Error as exc:
        raise read_error(db_path, exc) from exc
    finally:
        conn.close()
    return [_without_rowid(row) for row in rows], max(cursor, after)


def _last_rowid(conn: sqlite3.Connection) -> int:
    (rowid,) = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM requests").fetchone()
    return int(rowid)


def _without_rowid(row: sqlite3.Row) -> dict[str, Any]:
    data = _as_dict(row)
    del data["_rowid"]
    return data


def fetch_all(db_path: str | Path, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
    """The rows `sql` selects from the databank; none when it has no `requests` table yet."""
    conn = connect_readonly(db_path)
    if conn is None:
        return []
    try:
        if not has_table(conn, "requests"):
            return []
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise read_error(db_path, exc) from exc
    finally:
        conn.close()


def totals_by_project(db_path: str | Path, since: str) -> list[dict[str, Any]]:
    """Requests and cost per project since the ISO timestamp `since` (for `status` and `ports`)."""
    rows = fetch_all(
        db_path,
        "SELECT project, COUNT(*) AS requests, COALESCE(SUM(cost_usd), 0.0) AS cost_usd"
        " FROM requests WHERE started_at >= ? AND status != 'in_flight' GROUP BY project ORDER BY project",
        (since,),
    )
    return [dict(row) for row in rows]
