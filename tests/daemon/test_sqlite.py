"""The one SQLite helper: connect, transaction, named migrations (both stores are tested on their own)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon import sqlite

STEPS: sqlite.Migrations = []
migration = sqlite.registrar(STEPS)


@migration
def m001_notes(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")


@migration
def m002_note_text(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE notes ADD COLUMN text TEXT")


def test_registrar_keeps_order_and_names() -> None:
    assert [name for name, _ in STEPS] == ["m001_notes", "m002_note_text"]
    assert [fn for _, fn in STEPS] == [m001_notes, m002_note_text]


def test_connect_is_autocommit_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "a" / "b.db", busy_timeout_ms=1234)
    assert conn.isolation_level is None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    conn.execute("CREATE TABLE t (x)")
    assert not conn.in_transaction


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x)")
    with sqlite.transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.in_transaction
    with pytest.raises(KeyError), sqlite.transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise KeyError("boom")
    assert not conn.in_transaction
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_busy_database_waits_at_begin_and_then_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    holder = sqlite.connect(path)
    waiter = sqlite.connect(path, busy_timeout_ms=50)
    with (
        sqlite.transaction(holder),
        pytest.raises(sqlite3.OperationalError, match="locked"),
        sqlite.transaction(waiter),
    ):
        pass
    assert not waiter.in_transaction


def test_migrate_applies_each_step_once(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "m.db")
    assert sqlite.migrate(conn, STEPS[:1]) == ["m001_notes"]
    assert sqlite.migrate(conn, STEPS) == ["m002_note_text"]
    assert sqlite.migrate(conn, STEPS) == []
    assert sqlite.applied(conn) == ["m001_notes", "m002_note_text"]
    assert [row[1] for row in conn.execute("PRAGMA table_info(notes)")] == ["id", "text"]
    (applied_at,) = conn.execute("SELECT applied_at FROM _migrations LIMIT 1").fetchone()
    assert len(applied_at) == len("2025-01-31T09:15:02.123Z") and applied_at.endswith("Z")


def test_user_version_counts_steps_already_applied(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "old.db")
    conn.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY); PRAGMA user_version = 1;")
    assert sqlite.migrate(conn, STEPS, user_version=True) == ["m002_note_text"]
    assert sqlite.applied(conn) == ["m001_notes", "m002_note_text"]
    # Once names are recorded, user_version is never read again.
    conn.execute("PRAGMA user_version = 0")
    assert sqlite.migrate(conn, STEPS, user_version=True) == []


def test_user_version_is_ignored_unless_asked(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "v.db")
    conn.execute("PRAGMA user_version = 2")
    assert sqlite.migrate(conn, STEPS) == ["m001_notes", "m002_note_text"]
