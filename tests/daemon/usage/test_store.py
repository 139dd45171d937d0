"""Schema and migrations of the usage databank."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon.usage.record import COLUMNS, UsageRecord
from daemon.usage.store import MIGRATIONS, mark_interrupted, migrate, open_db


def _columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(requests)")]


def _migrations(conn: sqlite3.Connection) -> list[str]:
    return [name for (name,) in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def _indexes(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA index_list(requests)")}


def _insert(conn: sqlite3.Connection, record: UsageRecord) -> None:
    placeholders = ", ".join("?" for _ in COLUMNS)
    conn.execute(f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({placeholders})", record.as_row())


def test_empty_database_migrates_to_the_record_columns(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "nested" / "dir" / "memproxy.db")
    assert _columns(conn) == list(COLUMNS)
    assert "user_agent" in _columns(conn)  # m005: the User-Agent beside the client's short name
    assert _columns(conn)[-4:-1] == ["cache_write_1h_tokens", "reasoning_tokens", "service_tier"]  # m006
    assert _columns(conn)[-1] == "memory_ids"  # m007
    assert _migrations(conn) == [name for name, _ in MIGRATIONS]
    assert {"requests_started_at", "requests_project", "requests_model", "requests_status"} <= _indexes(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_migrations_are_numbered_in_order() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert len(set(names)) == len(names)
    assert names == sorted(names)
    assert all(name[0] == "m" and name[1:4].isdigit() for name in names)


def test_reopening_applies_nothing_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "memproxy.db"
    conn = open_db(path)
    _insert(conn, UsageRecord(id="a", endpoint="/v1/messages"))
    conn.close()

    conn = open_db(path)
    assert migrate(conn) == []
    assert _migrations(conn) == [name for name, _ in MIGRATIONS]
    assert [row[0] for row in conn.execute("SELECT id FROM requests")] == ["a"]


def test_an_older_database_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "memproxy.db"
    old = sqlite3.connect(path, isolation_level=None)
    assert migrate(old, MIGRATIONS[:1]) == ["m001_requests"]
    old.execute("INSERT INTO requests (id, started_at, project) VALUES ('kept', '2025-03-01T00:00:00.000Z', 'alpha')")
    assert _indexes(old) == {"sqlite_autoindex_requests_1"}
    old.close()

    conn = open_db(path)
    assert _migrations(conn) == [name for name, _ in MIGRATIONS]
    assert "requests_started_at" in _indexes(conn)
    assert conn.execute("SELECT project FROM requests WHERE id = 'kept'").fetchone() == ("alpha",)


def test_m005_moves_the_user_agent_to_its_own_column_and_names_the_client(tmp_path: Path) -> None:
    path = tmp_path / "memproxy.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, [m for m in MIGRATIONS if m[0] < "m005"])
    for id_, agent in (("a", "claude-cli/1.0.83 (external, cli)"), ("b", "OpenAI/Python 1.99"), ("c", None)):
        old.execute(
            "INSERT INTO requests (id, started_at, client) VALUES (?, '2025-03-01T00:00:00.000Z', ?)", (id_, agent)
        )
    old.close()

    conn = open_db(path)
    rows = {r[0]: r[1:] for r in conn.execute("SELECT id, client, user_agent FROM requests")}
    assert rows == {
        "a": ("claude", "claude-cli/1.0.83 (external, cli)"),
        "b": ("openai-python", "OpenAI/Python 1.99"),
        "c": (None, None),
    }


def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    def m900_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    conn = open_db(tmp_path / "memproxy.db")
    with pytest.raises(RuntimeError, match="boom"):
        migrate(conn, [*MIGRATIONS, ("m900_broken", m900_broken)])
    assert "m900_broken" not in _migrations(conn)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    assert not conn.in_transaction


def test_mark_interrupted_turns_only_in_flight_rows(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "memproxy.db")
    _insert(conn, UsageRecord(id="done", status="ok"))
    _insert(conn, UsageRecord(id="dead1", status="in_flight"))
    _insert(conn, UsageRecord(id="dead2", status="in_flight", error="already said"))

    assert mark_interrupted(conn) == 2
    rows = dict(conn.execute("SELECT id, status FROM requests"))
    assert rows == {"done": "ok", "dead1": "interrupted", "dead2": "interrupted"}
    errors = dict(conn.execute("SELECT id, error FROM requests"))
    assert errors["dead1"] and "daemon stopped" in errors["dead1"]
    assert errors["dead2"] == "already said"
    assert mark_interrupted(conn) == 0


def test_m006_adds_what_pricing_needs_and_keeps_stats_read_from_the_index(tmp_path: Path) -> None:
    path = tmp_path / "memproxy.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, [m for m in MIGRATIONS if m[0] < "m006"])
    old.execute("INSERT INTO requests (id, started_at, cache_write_tokens) VALUES ('a', '2025-03-01T00:00:00.000Z', 9)")
    old.close()

    conn = open_db(path)
    row = conn.execute("SELECT cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, service_tier FROM requests")
    assert row.fetchone() == (9, 0, 0, None)  # an older row: its writes priced at the 5-minute rate, as before
    index = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'requests_stats_project'").fetchone()[0]
    assert "cache_write_1h_tokens, reasoning_tokens" in index
