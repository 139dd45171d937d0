"""Reading the databank: order, limits, filters, and never creating a database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.errors import DatabankError
from daemon.usage.query import RowFilter, recent, where_clause
from daemon.usage.record import COLUMNS, UsageRecord
from daemon.usage.store import MIGRATIONS, migrate, open_db


def _write(path: Path, *records: UsageRecord) -> None:
    conn = open_db(path)
    placeholders = ", ".join("?" for _ in COLUMNS)
    conn.executemany(
        f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({placeholders})", [r.as_row() for r in records]
    )
    conn.close()


def _at(minute: int) -> str:
    return f"2025-03-01T10:{minute:02d}:00.000Z"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memproxy.db"


def test_no_database_means_no_rows_and_no_file(db_path: Path) -> None:
    assert recent(db_path) == []
    assert not db_path.exists()


def test_a_database_without_the_table_has_no_rows(db_path: Path) -> None:
    sqlite3.connect(db_path).close()
    assert recent(db_path) == []


def test_newest_last_limited_to_the_newest(db_path: Path) -> None:
    # Written out of time order, with a tie that insertion order must break.
    _write(
        db_path,
        UsageRecord(id="c", started_at=_at(3)),
        UsageRecord(id="a", started_at=_at(1)),
        UsageRecord(id="d1", started_at=_at(4)),
        UsageRecord(id="d2", started_at=_at(4)),
        UsageRecord(id="b", started_at=_at(2)),
    )
    assert [r["id"] for r in recent(db_path)] == ["a", "b", "c", "d1", "d2"]
    assert [r["id"] for r in recent(db_path, limit=2)] == ["d1", "d2"]
    assert [r["id"] for r in recent(db_path, limit=None)] == ["a", "b", "c", "d1", "d2"]
    assert recent(db_path, limit=0) == []


def test_rows_are_full_dicts_with_stream_as_bool(db_path: Path) -> None:
    _write(db_path, UsageRecord(id="s", stream=True, cost_usd=0.5, request_json='{"model": "x"}'))
    (row,) = recent(db_path)
    assert list(row) == list(COLUMNS)
    assert row["stream"] is True
    assert (row["cost_usd"], row["request_json"]) == (0.5, '{"model": "x"}')


def test_an_older_schema_is_read_as_it_is(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO requests (id, started_at) VALUES ('old', ?)", (_at(0),))
    conn.close()
    assert [r["id"] for r in recent(db_path)] == ["old"]


def test_a_corrupt_file_is_a_databank_error(db_path: Path) -> None:
    db_path.write_bytes(b"definitely not sqlite " * 200)
    with pytest.raises(DatabankError, match="cannot read the usage databank"):
        recent(db_path)


def test_an_empty_filter_adds_no_where_clause() -> None:
    assert where_clause(RowFilter()) == ("", [])


def test_filters_select_rows_and_values_never_reach_the_sql(db_path: Path) -> None:
    _write(
        db_path,
        UsageRecord(id="1", started_at=_at(1), project="alpha", model="gpt-4o", request_json="hello 100%"),
        UsageRecord(id="2", started_at=_at(2), project="beta", model="claude-*", resolved_model="claude-x"),
        UsageRecord(id="3", started_at=_at(3), project="alpha", status="error", response_text="Rate_limit"),
        UsageRecord(id="4", started_at=_at(4), project="alpha", status="client_disconnected"),
        UsageRecord(id="5", started_at=_at(5), project="alpha", status="interrupted"),
    )

    def ids(**kwargs: object) -> list[str]:
        return [r["id"] for r in recent(db_path, row_filter=RowFilter(**kwargs))]  # type: ignore[arg-type]

    assert ids(project="alpha") == ["1", "3", "4", "5"]
    assert ids(model="claude-x") == ["2"]
    assert ids(model="claude-*") == ["2"]
    assert ids(errors=True) == ["3", "5"]
    assert ids(since=datetime(2025, 3, 1, 10, 3, tzinfo=UTC)) == ["3", "4", "5"]
    assert ids(search="RATE_LIMIT") == ["3"]
    assert ids(search="100%") == ["1"]
    assert ids(search="_") == ["3"]  # a literal underscore, not LIKE's any-character
    assert ids(project="alpha", errors=True, search="rate") == ["3"]

    injection = "alpha' OR '1'='1"
    sql, params = where_clause(RowFilter(project=injection))
    assert injection not in sql and params == [injection]
    assert ids(project=injection) == []
