"""SQLite the one way memproxy uses it: connect, one transaction at a time, named migrations.

Both of memproxy's databases (the usage databank and the memory store) open through `connect`:
autocommit mode (`isolation_level=None`), so a transaction never starts or ends behind the
caller's back, and every write goes through `transaction` (`BEGIN IMMEDIATE`: the write lock is
taken up front, so a busy database waits `busy_timeout` at BEGIN instead of failing mid-way).

Migrations work the way `llm`'s do: numbered functions registered in order (`registrar`),
recorded by name in `_migrations`, applied on every open by `migrate`. A migration is frozen once
released; a schema change is a new function at the end, never an edit to an old one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]
Migrations = list[tuple[str, Migration]]

# The same fixed-width ISO 8601 UTC text as `usage.record.iso_utc`, computed by SQLite itself.
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def connect(path: str | Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (creating it and its folder if needed) the database at `path`: autocommit, WAL, busy_timeout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # busy_timeout first, so even switching to WAL waits for a competing writer instead of failing.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power cut can lose the
        # last commits, which is fine for a usage log and a memory store, and saves an fsync per write.
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_readonly(path: str | Path, *, busy_timeout_ms: int) -> sqlite3.Connection:
    """A read-only connection to the existing database at `path` (never creates it)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` on an autocommit connection; `ROLLBACK` on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls some failures back itself; a second ROLLBACK would hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def registrar(migrations: Migrations) -> Callable[[Migration], Migration]:
    """A decorator that appends a function to `migrations`, under its name: `@migration def m001_x(conn)`."""

    def migration(fn: Migration) -> Migration:
        migrations.append((fn.__name__, fn))
        return fn

    return migration


def applied(conn: sqlite3.Connection) -> list[str]:
    """The names recorded in `_migrations`, in the order they were applied."""
    return [name for (name,) in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[tuple[str, Migration]], *, user_version: bool = False
) -> list[str]:
    """Apply the migrations not yet recorded in `_migrations`, in order, in one transaction; return their names.

    `user_version=True` is for a file that used to count its steps in `PRAGMA user_version`: when
    nothing is recorded yet and it says N, the first N migrations are recorded as applied, not run.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    # Checked outside a transaction first so that an up-to-date database (every open but the first)
    # never takes the write lock the other writers need.
    if {name for name, _ in migrations} <= set(applied(conn)):
        return []
    done: list[str] = []
    with transaction(conn):
        # Read again under the lock: another process may have migrated in between.
        recorded = set(applied(conn))
        if user_version and not recorded:
            (counted,) = conn.execute("PRAGMA user_version").fetchone()
            for name, _ in migrations[:counted]:
                _record(conn, name)
                recorded.add(name)
        for name, fn in migrations:
            if name in recorded:
                continue
            fn(conn)
            _record(conn, name)
            done.append(name)
    return done


def _record(conn: sqlite3.Connection, name: str) -> None:
    conn.execute(f"INSERT INTO _migrations (name, applied_at) VALUES (?, {_NOW})", (name,))
