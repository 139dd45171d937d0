"""Is the databank sound, and keeping what can be read when it is not.

`damage(path)` runs SQLite's `PRAGMA quick_check` (page structure, in seconds even on a big file)
on a read-only connection: the daemon and `memproxy up` refuse a damaged databank instead of
answering requests whose rows cannot be written. `recover(path)` puts the damaged file aside
(with its `-wal`, under a timestamp) and copies every row it can still read into a new databank,
stepping over the stretches it cannot; the FTS index and the other indexes are rebuilt as the
rows go in.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from daemon.errors import DatabankError
from daemon.sqlite import transaction
from daemon.usage.record import COLUMNS
from daemon.usage.store import open_db

# SQLite's result codes for a file that is not (or no longer) a sound database.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CHUNK = 500
_MIN_ROWID = -(2**63)
_MAX_JUMP = 2**62


def _readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
    return conn


def _is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text or "not a database" in text


def damage(path: str | Path) -> str | None:
    """What is wrong with the databank at `path` (one line), or None if it is sound or does not exist yet.

    A lock or a missing permission is not damage: the writer copes with those (or they fail on open).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        conn = _readonly(path)
        try:
            found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc) if _is_damage(exc) else None
    # quick_check's lines may come several to a row, under a "*** in database main ***" heading.
    problems = [" ".join(line.split()) for row in found for line in row.splitlines() if line.strip() not in ("ok", "")]
    problems = [line for line in problems if not line.startswith("***")]
    if not problems:
        return None
    return problems[0] if len(problems) == 1 else f"{problems[0]}, and more"


def refuse_if_damaged(path: str | Path) -> None:
    """Raise `DatabankError` (one sentence: what, and the fix) if the databank at `path` is damaged."""
    found = damage(path)
    if found is not None:
        raise DatabankError(
            f"the usage databank {path} is damaged ({found}); "
            "run `memproxy db recover` to copy every row it can still read into a new file"
        )


@dataclass(frozen=True)
class Recovery:
    """What `recover` did."""

    rows: int  # rows copied into the new databank
    skipped: int  # stretches of rows that could not be read
    kept_at: Path  # where the damaged file now is
    problem: str | None  # what quick_check said about the damaged file


def recover(path: str | Path, *, now: datetime | None = None) -> Recovery:
    """Move the databank at `path` aside and copy what can be read of it into a new one at `path`."""
    path = Path(path)
    if not path.exists():
        raise DatabankError(f"there is no usage databank at {path}")
    problem = damage(path)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    # The -wal travels with it under the matching name, so its committed rows are read too.
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    target = open_db(path)
    try:
        rows, skipped = _copy_rows(aside, target)
    finally:
        target.close()
    return Recovery(rows=rows, skipped=skipped, kept_at=aside, problem=problem)


def _copy_rows(source: Path, target: sqlite3.Connection) -> tuple[int, int]:
    try:
        conn = _readonly(source)
    except sqlite3.Error:
        return 0, 1
    try:
        columns = _readable_columns(conn)
        if not columns:
            return 0, 1
        select = f"SELECT rowid, {', '.join(columns)} FROM requests WHERE rowid > ? ORDER BY rowid LIMIT ?"
        insert = f"INSERT OR IGNORE INTO requests ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        copied = skipped = 0
        last = _MIN_ROWID
        while True:
            try:
                chunk = conn.execute(select, (last, _CHUNK)).fetchall()
            except sqlite3.DatabaseError:
                chunk = _one_by_one(conn, select, last)
                if not chunk:
                    found = _next_readable(conn, select, last)
                    if found is None:
                        return copied, skipped + 1
                    skipped += 1
                    chunk = [found]
            if not chunk:
                return copied, skipped
            with transaction(target):
                target.executemany(insert, [row[1:] for row in chunk])
            copied += len(chunk)
            last = chunk[-1][0]
    finally:
        conn.close()


def _readable_columns(conn: sqlite3.Connection) -> list[str]:
    """The columns of the damaged file's `requests` that the new schema has, in its order."""
    try:
        present = {str(row[1]) for row in conn.execute("PRAGMA table_info(requests)")}
    except sqlite3.Error:
        return []
    return [name for name in COLUMNS if name in present]


def _one_by_one(conn: sqlite3.Connection, select: str, last: int) -> list[tuple[object, ...]]:
    """Rows after `last` read one at a time, up to the first that cannot be read."""
    rows: list[tuple[object, ...]] = []
    while len(rows) < _CHUNK:
        try:
            row = conn.execute(select, (last, 1)).fetchone()
        except sqlite3.DatabaseError:
            break
        if row is None:
            break
        rows.append(row)
        last = row[0]
    return rows


def _next_readable(conn: sqlite3.Connection, select: str, last: int) -> tuple[object, ...] | None:
    """The first row past an unreadable stretch after `last`: look ever further ahead (1, 2, 4, ...),
    then back between the last miss and the first hit, so no readable row near the stretch is lost."""

    def first_after(start: int) -> tuple[object, ...] | bool | None:
        try:
            row = conn.execute(select, (start, 1)).fetchone()
        except sqlite3.DatabaseError:
            return False  # unreadable from here
        return tuple(row) if row is not None else None

    miss, jump = last, 1
    while jump <= _MAX_JUMP:
        found = first_after(last + jump)
        if found is not False:
            hit = last + jump
            while hit - miss > 1:
                middle = (hit + miss) // 2
                between = first_after(middle)
                if between is False:
                    miss = middle
                else:
                    hit, found = middle, between
            return found if isinstance(found, tuple) else None
        miss, jump = last + jump, jump * 2
    return None
