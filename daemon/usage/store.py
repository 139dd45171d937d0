"""The usage databank's schema: open a connection, migrate it, repair what a crash left behind.

Its migrations are `daemon.sqlite`'s: numbered functions registered in order by `@migration`,
recorded by name in `_migrations`, applied on every open. A migration is frozen once released;
a schema change is a new function at the end, never an edit to an old one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from daemon import sqlite
from daemon.identity import client_from_user_agent
from daemon.sqlite import Migration

MIGRATIONS: sqlite.Migrations = []
migration = sqlite.registrar(MIGRATIONS)


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


# The searchable text of a request body: the string values of its JSON (message contents, system
# prompt, tool names), decoded, so "\n" and "\u00e9" escapes do not glue letters onto words.
# A body that is not JSON is indexed as it is. Frozen with m003: its triggers embed it.
_FTS_PROMPT = (
    "(CASE WHEN json_valid({body}) THEN "
    "(SELECT group_concat(value, ' ') FROM json_tree({body}) WHERE type = 'text') ELSE {body} END)"
)


@migration
def m003_requests_fts(conn: sqlite3.Connection) -> None:
    # Contentless (content=''): the text lives in `requests` already. FTS5 then needs the exact old
    # values to delete a row, which the triggers recompute from the row being removed.
    # The writer's INSERT OR REPLACE deletes the old row without firing the delete trigger
    # (recursive_triggers is off, SQLite's default), so a BEFORE INSERT trigger removes the old
    # row's entry first. `in_flight` rows are not indexed: they are replaced when the request ends.
    conn.execute("CREATE VIRTUAL TABLE requests_fts USING fts5(prompt, response, content='')")
    try:
        conn.execute("SELECT json_valid('{}')")
        prompt = _FTS_PROMPT
    except sqlite3.OperationalError:  # an SQLite built without JSON: index the raw body
        prompt = "{body}"
    old = prompt.format(body="old.request_json")
    new = prompt.format(body="new.request_json")
    current = prompt.format(body="request_json")
    delete_old = (
        "INSERT INTO requests_fts (requests_fts, rowid, prompt, response) "
        f"SELECT 'delete', old.rowid, {old}, old.response_text WHERE old.status != 'in_flight';"
    )
    insert_new = (
        "INSERT INTO requests_fts (rowid, prompt, response) "
        f"SELECT new.rowid, {new}, new.response_text WHERE new.status != 'in_flight';"
    )
    conn.execute(
        "CREATE TRIGGER requests_fts_replace BEFORE INSERT ON requests BEGIN "
        "INSERT INTO requests_fts (requests_fts, rowid, prompt, response) "
        f"SELECT 'delete', rowid, {current}, response_text FROM requests "
        "WHERE id = new.id AND status != 'in_flight'; END"
    )
    conn.execute(f"CREATE TRIGGER requests_fts_insert AFTER INSERT ON requests BEGIN {insert_new} END")
    conn.execute(f"CREATE TRIGGER requests_fts_delete AFTER DELETE ON requests BEGIN {delete_old} END")
    conn.execute(
        "CREATE TRIGGER requests_fts_update AFTER UPDATE OF status, request_json, response_text ON requests "
        f"BEGIN {delete_old} {insert_new} END"
    )
    conn.execute(
        f"INSERT INTO requests_fts (rowid, prompt, response) SELECT rowid, {current}, response_text "
        "FROM requests WHERE status != 'in_flight'"
    )


# A request's latency rounded down to 3 significant digits (1 ms below 1 s, 10 ms below 10 s, ...),
# -1 for none: `stats` builds latency histograms from it. Frozen with m004: its indexes embed it,
# and a query must spell it exactly so for SQLite to read it from them.
LATENCY_BUCKET = (
    "(CASE WHEN latency_ms IS NULL THEN -1 "
    "WHEN latency_ms < 1000 THEN CAST(latency_ms AS INTEGER) "
    "WHEN latency_ms < 10000 THEN CAST(latency_ms / 10 AS INTEGER) * 10 "
    "WHEN latency_ms < 100000 THEN CAST(latency_ms / 100 AS INTEGER) * 100 "
    "ELSE CAST(latency_ms / 1000 AS INTEGER) * 1000 END)"
)
_STATS_COLUMNS = "status, latency_ms, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd"


@migration
def m004_stats_indexes(conn: sqlite3.Connection) -> None:
    # Covering indexes ordered the way `stats` groups, so a million rows are aggregated in one
    # index scan with no sort (SQLite's GROUP BY sorter is what makes such queries take seconds).
    for key in ("project", "model", "client"):
        project = "" if key == "project" else ", project"
        conn.execute(
            f"CREATE INDEX requests_stats_{key} ON requests "
            f"({key}, {LATENCY_BUCKET}, started_at{project}, {_STATS_COLUMNS})"
        )
    # Days, weeks and months are ranges of started_at, read bucket by bucket.
    conn.execute(
        f"CREATE INDEX requests_stats_time ON requests ({LATENCY_BUCKET}, started_at, project, {_STATS_COLUMNS})"
    )


@migration
def m005_user_agent(conn: sqlite3.Connection) -> None:
    # `client` becomes the tool's short name; the User-Agent it held moves to its own column. Older
    # rows get the names `client_from_user_agent` gives at the time of the upgrade.
    conn.execute("ALTER TABLE requests ADD COLUMN user_agent TEXT")
    conn.create_function("memproxy_client_name", 1, client_from_user_agent, deterministic=True)
    try:
        conn.execute(
            "UPDATE requests SET user_agent = client, client = memproxy_client_name(client) WHERE client IS NOT NULL"
        )
    finally:
        conn.create_function("memproxy_client_name", 1, None)


_STATS_COLUMNS_M006 = f"{_STATS_COLUMNS}, cache_write_1h_tokens, reasoning_tokens"


@migration
def m006_priced_usage(conn: sqlite3.Connection) -> None:
    # What LiteLLM's cost functions need beyond four buckets: 1-hour cache writes (of
    # cache_write_tokens), reasoning tokens (of output_tokens) and the service tier served. Older
    # rows have none of them (0 / NULL: priced as before). The stats indexes are rebuilt under the
    # same names with the two new sums, so `stats` still reads them from the index alone.
    conn.execute("ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE requests ADD COLUMN service_tier TEXT")
    for key in ("project", "model", "client"):
        project = "" if key == "project" else ", project"
        conn.execute(f"DROP INDEX IF EXISTS requests_stats_{key}")
        conn.execute(
            f"CREATE INDEX requests_stats_{key} ON requests "
            f"({key}, {LATENCY_BUCKET}, started_at{project}, {_STATS_COLUMNS_M006})"
        )
    conn.execute("DROP INDEX IF EXISTS requests_stats_time")
    conn.execute(
        f"CREATE INDEX requests_stats_time ON requests ({LATENCY_BUCKET}, started_at, project, {_STATS_COLUMNS_M006})"
    )


@migration
def m007_memory_ids(conn: sqlite3.Connection) -> None:
    # which memories were injected into the request, their ids comma-separated (NULL: none); issue 15
    conn.execute("ALTER TABLE requests ADD COLUMN memory_ids TEXT")


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, Migration]] | None = None) -> list[str]:
    """Apply the migrations not yet recorded in `_migrations`, in order; return their names."""
    return sqlite.migrate(conn, MIGRATIONS if migrations is None else migrations)


def open_db(path: str | Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (creating if needed) the databank at `path`, in WAL mode, migrated to the latest schema.

    The connection is in autocommit mode: writers use `daemon.sqlite.transaction`.
    """
    conn = sqlite.connect(path, busy_timeout_ms=busy_timeout_ms)
    try:
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
