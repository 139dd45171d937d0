"""The embedded memory backend: SQLite FTS5 with bm25 ranking, in its own database file.

Layout: `memories` holds every text whole; `memories_fts` is a contentless FTS5 index joined to it by
rowid. The index has two columns: a per-scope key (one digit-only token, so a search is the
intersection "this scope AND these words" inside FTS5 and LIMIT applies to in-scope rows) and the
body. The outer join still checks `memories.scope`, so scopes stay apart even on a hash collision.

SQLite calls block, so all of them run on one dedicated thread that owns the one connection; the
event loop only awaits them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from daemon import sqlite
from daemon.errors import MemoryBackendError
from daemon.memory.base import MIN_QUOTED_CHARS, Memory, MemoryBackend, require_text
from daemon.memory.fts import fts_query
from daemon.sqlite import transaction
from daemon.usage.record import iso_utc

T = TypeVar("T")

# Texts are stored whole (up to any size); only this much of each is indexed, so a 1 MB paste
# neither bloats the index nor stalls the writer thread.
INDEX_CHARS = 100_000


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


MIGRATIONS: sqlite.Migrations = []
migration = sqlite.registrar(MIGRATIONS)


@migration
def m001_memories(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            scope TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            metadata TEXT
        )
        """
    )
    conn.execute("CREATE INDEX memories_scope ON memories (scope, id)")
    conn.execute(
        "CREATE VIRTUAL TABLE memories_fts USING fts5 (scope_key, body, content='', tokenize='porter unicode61')"
    )
    conn.execute("INSERT INTO memories_fts (memories_fts, rank) VALUES ('rank', 'bm25(0.0, 1.0)')")


@migration
def m002_dedupe(conn: sqlite3.Connection) -> None:
    # A text is stored once per scope. Older files may hold copies: keep the oldest.
    conn.execute("ALTER TABLE memories ADD COLUMN digest BLOB")
    seen: set[tuple[str, bytes]] = set()
    copies: dict[str, list[tuple[int, str]]] = {}
    for rowid, scope, text in conn.execute("SELECT id, scope, text FROM memories ORDER BY id").fetchall():
        digest = _digest(text)
        if (scope, digest) in seen:
            copies.setdefault(scope, []).append((rowid, text))
            continue
        seen.add((scope, digest))
        conn.execute("UPDATE memories SET digest = ? WHERE id = ?", (digest, rowid))
    for scope, rows in copies.items():
        _delete(conn, scope, rows, vectors=False)  # memory_vectors comes in m003
    conn.execute("CREATE UNIQUE INDEX memories_scope_digest ON memories (scope, digest)")


@migration
def m003_vectors(conn: sqlite3.Connection) -> None:
    # semantic retrieval's embeddings (daemon/memory/semantic.py): float32, normalized, one per memory
    conn.execute(
        "CREATE TABLE memory_vectors (memory_id INTEGER PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL)"
    )


@migration
def m004_uses(conn: sqlite3.Connection) -> None:
    # how often a memory went into a request, and when last (`memory list`); daemon.memory.uses
    conn.execute("ALTER TABLE memories ADD COLUMN used_count INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE memories ADD COLUMN last_used_at TEXT")


def open_db(path: str | Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (creating if needed) the memory store at `path`, migrated to the latest schema.

    Files from before named migrations counted their steps in `PRAGMA user_version`; `migrate`
    records those steps as applied. The migration runs under the write lock, so two processes
    opening a new file at once (the daemon and `memproxy memory add`) cannot both create the tables.
    """
    conn = sqlite.connect(path, busy_timeout_ms=busy_timeout_ms)
    try:
        sqlite.migrate(conn, MIGRATIONS, user_version=True)
    except BaseException:
        conn.close()
        raise
    return conn


_COLUMNS = "m.id, m.text, m.scope, m.created_at, m.metadata, m.used_count, m.last_used_at"
# A search, two ways to the same rows (bm25 weighs the scope key 0, so the ranks are equal): by the
# words alone, keeping the scope's rows (~0.6 ms instead of ~1.5 ms when the scope is the store, as
# with one project's 10,000 memories), or intersected with the scope's key inside FTS5 first (when
# other scopes hold most rows, so the words alone would rank theirs too).
_BY_WORDS = (
    f"SELECT {_COLUMNS}, hit.rank FROM (SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ?) AS hit "
    "JOIN memories AS m ON m.id = hit.rowid WHERE m.scope = ? ORDER BY hit.rank LIMIT ?"
)
_BY_SCOPE_KEY = (
    f"SELECT {_COLUMNS}, hit.rank FROM "
    "(SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?) AS hit "
    "JOIN memories AS m ON m.id = hit.rowid WHERE m.scope = ? ORDER BY hit.rank"
)
# how many searches a scope's share of the store is trusted before it is counted again
_SHARE_SEARCHES = 256


def scope_key(scope: str) -> str:
    """A single FTS token naming `scope`: digits only, so neither tokenizer nor stemmer alters it."""
    return "k" + str(int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big"))


def _index_body(text: str) -> str:
    return text[:INDEX_CHARS]


def _row_memory(row: tuple[Any, ...], score: float | None = None) -> Memory:
    rowid, text, scope, created_at, metadata, used_count, last_used_at = row
    return Memory(
        id=str(rowid),
        text=text,
        scope=scope,
        created_at=created_at,
        score=score,
        metadata=json.loads(metadata) if metadata else None,
        used_count=used_count,
        last_used_at=last_used_at,
    )


def _rowid(id: str) -> int | None:
    # Ids are decimal rowids; anything else (a Supermemory id, a typo) names no memory here.
    return int(id) if id.isascii() and id.isdigit() and len(id) < 19 else None


class LocalBackend:
    """Memories in a local SQLite file (`paths.memory_db_file`)."""

    # its search returns each memory whole with its metadata, so capture can fold near-duplicates
    folds_near_duplicates = True

    def __init__(self, db_path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.db_path = Path(db_path)
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memproxy-memory")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._shares: dict[str, tuple[bool, int]] = {}  # scope → (holds most rows?, searches left); its thread's

    # --- the thread side -----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.run(fn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` on the store's own thread (sqlite3.Error → MemoryBackendError)."""
        if self._closed:
            raise MemoryBackendError("the memory store is closed")

        def call() -> T:
            try:
                return fn(self._connection())
            except sqlite3.Error as exc:
                raise MemoryBackendError(f"memory database {self.db_path}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # --- the interface -------------------------------------------------------------------------

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory:
        """Store `text` in `scope`; a text the scope already holds is kept once (its first id)."""
        require_text(text)
        created = iso_utc()
        meta = json.dumps(metadata) if metadata else None

        def write(conn: sqlite3.Connection) -> int:
            self._shares.clear()  # the scopes' shares of the store change
            with transaction(conn):
                return _insert(conn, scope, text, created, meta)[0]

        rowid = await self._run(write)
        return Memory(id=str(rowid), text=text, scope=scope, created_at=created, metadata=metadata)

    async def add_many(self, scope: str, texts: Iterable[str]) -> int:
        """Store many texts in one transaction (imports, benchmarks); return how many were new."""
        created = iso_utc()
        items = [t for t in texts if t and t.strip()]

        def write(conn: sqlite3.Connection) -> int:
            self._shares.clear()  # the scopes' shares of the store change
            with transaction(conn):
                return sum(_insert(conn, scope, text, created, None)[1] for text in items)

        return await self._run(write)

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
        """The best `limit` memories of `scope` for `query`, best first (score: higher is better)."""
        match = fts_query(query)
        if match is None or limit <= 0:
            return []

        def read(conn: sqlite3.Connection) -> list[Memory]:
            if self._holds_most(conn, scope):  # the words alone, then the scope's rows: half the work
                rows = conn.execute(_BY_WORDS, (f"body : ({match})", scope, limit)).fetchall()
            else:  # few of the store's rows are the scope's: FTS5 intersects with its key first
                keyed = f'scope_key : "{scope_key(scope)}" AND body : ({match})'
                rows = conn.execute(_BY_SCOPE_KEY, (keyed, limit, scope)).fetchall()
            # bm25 is "lower is better" and negative; flip it so a bigger score means a better match.
            return [_row_memory(row[:-1], score=-row[-1]) for row in rows]

        return await self._run(read)

    def _holds_most(self, conn: sqlite3.Connection, scope: str) -> bool:
        """Whether `scope` holds at least half the store's memories (counted once per `_SHARE_SEARCHES`
        searches and after this backend writes; another process's writes only make the guess stale,
        and either query gives the same rows)."""
        known = self._shares.get(scope)
        if known is None or known[1] <= 0:
            (total,) = conn.execute("SELECT count(*) FROM memories").fetchone()
            (mine,) = conn.execute("SELECT count(*) FROM memories WHERE scope = ?", (scope,)).fetchone()
            if len(self._shares) >= 1024:
                self._shares.clear()
            known = (2 * mine >= total, _SHARE_SEARCHES)
        self._shares[scope] = (known[0], known[1] - 1)
        return known[0]

    async def get(self, scope: str, id: str) -> Memory | None:
        """The memory `id` if it belongs to `scope`."""
        rowid = _rowid(id)
        if rowid is None:
            return None

        def read(conn: sqlite3.Connection) -> Memory | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM memories m WHERE m.id = ? AND m.scope = ?", (rowid, scope))
            found = row.fetchone()
            return _row_memory(found) if found else None

        return await self._run(read)

    async def list(self, scope: str, limit: int = 50) -> list[Memory]:
        """The newest `limit` memories of `scope`, newest first."""

        def read(conn: sqlite3.Connection) -> list[Memory]:
            sql = f"SELECT {_COLUMNS} FROM memories m WHERE m.scope = ? ORDER BY m.id DESC LIMIT ?"
            return [_row_memory(row) for row in conn.execute(sql, (scope, max(0, limit)))]

        return await self._run(read)

    async def forget(self, scope: str, id: str) -> bool:
        """Delete memory `id` from `scope`, and every memory of the scope that quotes its text whole (a
        captured answer that repeated it); False if `scope` has no such memory."""
        rowid = _rowid(id)
        if rowid is None:
            return False

        def delete(conn: sqlite3.Connection) -> bool:
            self._shares.clear()  # the scopes' shares of the store change
            with transaction(conn):
                rows = conn.execute("SELECT id, text FROM memories WHERE id = ? AND scope = ?", (rowid, scope))
                found = rows.fetchall()
                if found and len(found[0][1].strip()) >= MIN_QUOTED_CHARS:
                    quoting = "SELECT id, text FROM memories WHERE scope = ? AND id != ? AND instr(text, ?) > 0"
                    found += conn.execute(quoting, (scope, rowid, found[0][1].strip())).fetchall()
                return _delete(conn, scope, found) > 0

        return await self._run(delete)

    async def forget_all(self, scope: str) -> int:
        """Delete every memory of `scope`; return how many."""

        def delete(conn: sqlite3.Connection) -> int:
            self._shares.clear()  # the scopes' shares of the store change
            with transaction(conn):
                rows = conn.execute("SELECT id, text FROM memories WHERE scope = ?", (scope,))
                return _delete(conn, scope, rows.fetchall())

        return await self._run(delete)

    async def prune_captured(self, scope: str, keep: int | None, retention_days: int | None) -> int:
        """Delete `scope`'s captured memories beyond the newest `keep` and older than `retention_days`;
        return how many. Memories added otherwise (`memory add`) are never touched."""
        captured = "SELECT id, text FROM memories WHERE scope = ? AND json_extract(metadata, '$.source') = 'capture'"
        cutoff = iso_utc(datetime.now(UTC) - timedelta(days=retention_days)) if retention_days else None

        def delete(conn: sqlite3.Connection) -> int:
            self._shares.clear()  # the scopes' shares of the store change
            with transaction(conn):
                rows: dict[int, str] = {}
                if keep is not None:
                    rows.update(conn.execute(f"{captured} ORDER BY id DESC LIMIT -1 OFFSET ?", (scope, keep)))
                if cutoff is not None:
                    rows.update(conn.execute(f"{captured} AND created_at < ?", (scope, cutoff)))
                return _delete(conn, scope, list(rows.items())) if rows else 0

        return await self._run(delete)

    async def mark_used(self, scope: str, counts: dict[str, int], when: str) -> None:
        """Add `counts[id]` to how often each memory of `scope` went into a request; last used `when`."""
        rows = [(n, when, rowid, scope) for id, n in counts.items() if (rowid := _rowid(id)) is not None]
        sql = "UPDATE memories SET used_count = used_count + ?, last_used_at = ? WHERE id = ? AND scope = ?"

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.executemany(sql, rows)

        if rows:
            await self._run(write)

    def for_user(self, user_id: str) -> MemoryBackend:
        """One local file serves every user: scopes, not sessions, keep them apart."""
        return self

    def sessions(self) -> dict[str, Any]:
        """Nothing per user to report: the local store has no sessions."""
        return {}

    async def close(self) -> None:
        """Close the connection and stop the thread; later calls raise MemoryBackendError."""
        if self._closed:
            return

        def shut(conn: sqlite3.Connection | None = None) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._closed = True
        self._executor.shutdown(wait=False)


def _insert(conn: sqlite3.Connection, scope: str, text: str, created: str, meta: str | None) -> tuple[int, bool]:
    """Store one memory; (its id, whether it is new)."""
    digest = _digest(text)
    row = conn.execute(
        "INSERT INTO memories (scope, text, created_at, metadata, digest) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (scope, digest) DO NOTHING RETURNING id",
        (scope, text, created, meta, digest),
    ).fetchone()
    if row is None:  # already remembered: the same exchange again, or the same note added twice
        (rowid,) = conn.execute("SELECT id FROM memories WHERE scope = ? AND digest = ?", (scope, digest)).fetchone()
        return int(rowid), False
    rowid = row[0]
    conn.execute(
        "INSERT INTO memories_fts (rowid, scope_key, body) VALUES (?, ?, ?)",
        (rowid, scope_key(scope), _index_body(text)),
    )
    return rowid, True


def _delete(conn: sqlite3.Connection, scope: str, rows: list[tuple[int, str]], *, vectors: bool = True) -> int:
    # A contentless index forgets a row only when told the exact tokens it indexed.
    key = scope_key(scope)
    conn.executemany(
        "INSERT INTO memories_fts (memories_fts, rowid, scope_key, body) VALUES ('delete', ?, ?, ?)",
        [(rowid, key, _index_body(text)) for rowid, text in rows],
    )
    conn.executemany("DELETE FROM memories WHERE id = ?", [(rowid,) for rowid, _ in rows])
    if vectors:
        conn.executemany("DELETE FROM memory_vectors WHERE memory_id = ?", [(rowid,) for rowid, _ in rows])
    return len(rows)
