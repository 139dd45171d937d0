"""The usage databank's schema: open a connection, migrate it, repair what a crash left behind.

Migrations work the way `llm`'s do: numbered functions registered in order by `@migration`,
recorded by name in `_migrations`, applied on every open. A migration is frozen once released;
a schema change is a new function at the end, never an edit to an old one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from daemon.errors import MemproxyError
from daemon.usage_record import iso_utc

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[str, Migration]] = []


class DatabankError(MemproxyError):
    """The usage databank cannot be opened, read or written."""


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration, under its function name."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_requests(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            project TEXT NOT NULL DEFAULT 'default',
            user_id TEXT,
            client TEXT,
            endpoint TEXT NOT NULL DEFAULT '',
            model TEXT,
            resolved_model TEXT,
            provider TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'ok',
            http_status INTEGER,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            latency_ms REAL,
            ttft_ms REAL,
            memory_hits INTEGER NOT NULL DEFAULT 0,
            tool_rounds INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            request_json TEXT,
            response_text TEXT
        )
        """
    )


@migration
def m002_request_indexes(conn: sqlite3.Connection) -> None:
    # The columns `logs` and `stats` filter and group by; started_at also orders every listing.
    for column in ("started_at", "project", "model", "status"):
        conn.execute(f"CREATE INDEX requests_{column} ON requests ({column})")


def _applied(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM _migrations")}


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, Migration]] | None = None) -> list[str]:
    """Apply the migrations not yet recorded in `_migrations`, in order; return their names."""
    migrations = MIGRATIONS if migrations is None else migrations
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    # Checked outside a transaction first so that an up-to-date database (every open but the first)
    # never takes the write lock the usage writer needs.
    if all(name in _applied(conn) for name, _ in migrations):
        return []
    done: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have migrated in between.
        applied = _applied(conn)
        for name, fn in migrations:
            if name in applied:
                continue
            fn(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, iso_utc()))
            done.append(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return done


def open_db(path: str | Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (creating if needed) the databank at `path`, in WAL mode, migrated to the latest schema.

    The connection is in autocommit mode (`isolation_level=None`): callers say `BEGIN` themselves,
    so a transaction never starts or ends behind their back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # busy_timeout first, so even switching to WAL waits for a competing writer instead of failing.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power cut can lose
        # the last commits, which is fine for a usage log and saves an fsync per batch.
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def mark_interrupted(conn: sqlite3.Connection) -> int:
    """Turn rows a dead daemon left `in_flight` into `interrupted`; return how many."""
    cursor = conn.execute(
        "UPDATE requests SET status = 'interrupted', "
        "error = COALESCE(error, 'the daemon stopped before the request finished') "
        "WHERE status = 'in_flight'"
    )
    return cursor.rowcount
