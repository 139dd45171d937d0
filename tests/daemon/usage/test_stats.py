"""`usage_stats`: groups, totals, percentiles, local-time periods, old and empty databanks; the FTS index."""

from __future__ import annotations

import itertools
import math
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.usage.query import RowFilter, match_words, recent
from daemon.usage.record import COLUMNS, UsageRecord
from daemon.usage.stats import periods, usage_stats
from daemon.usage.store import MIGRATIONS, mark_interrupted, migrate, open_db
from tests.support.databank import write_records

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 3, 31, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memproxy.db"


@pytest.fixture
def local_tz() -> Iterator[None]:
    """Local time is New York (DST on 2025-03-09) for the test."""
    if not Path("/usr/share/zoneinfo/America/New_York").exists() or not hasattr(time, "tzset"):
        pytest.skip("needs the system time zone database")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _insert(path: Path, records: list[UsageRecord]) -> None:
    conn = open_db(path)
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
        [r.as_row() for r in records],
    )
    conn.execute("COMMIT")
    conn.close()


def _rec(n: int, **kwargs: object) -> UsageRecord:
    base: dict[str, object] = {"id": f"r{n}", "started_at": f"2025-03-01T10:{n:02d}:00.000Z", "latency_ms": 100.0 + n}
    return UsageRecord(**{**base, **kwargs})  # type: ignore[arg-type]


def _stats(path: Path, by: str = "project", **kwargs: object) -> dict[str, object]:
    return usage_stats(path, by=by, since=SINCE, now=NOW, **kwargs)  # type: ignore[arg-type]


ZERO_TOTAL = {
    "key": "total",
    "requests": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "cache_write_1h_tokens": 0,
    "reasoning_tokens": 0,
    "cost_usd": 0.0,
    "latency_p50_ms": None,
    "latency_p95_ms": None,
    "error_rate": 0.0,
}


def test_no_databank_or_no_table_is_an_empty_report(db_path: Path) -> None:
    assert _stats(db_path) == {"by": "project", "rows": [], "total": ZERO_TOTAL}
    assert not db_path.exists()
    sqlite3.connect(db_path).close()
    assert _stats(db_path, "day") == {"by": "day", "rows": [], "total": ZERO_TOTAL}


def test_unknown_grouping_is_a_value_error(db_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot group by 'colour'"):
        usage_stats(db_path, by="colour")


def test_groups_sum_tokens_cost_errors_and_leave_in_flight_out(db_path: Path) -> None:
    write_records(
        db_path,
        _rec(
            1,
            project="shop",
            model="gpt-4o",
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.25,
            cache_read_tokens=7,
            reasoning_tokens=2,
        ),
        _rec(
            2,
            project="shop",
            model="gpt-4o",
            input_tokens=20,
            cache_write_tokens=3,
            cost_usd=0.5,
            status="error",
            cache_write_1h_tokens=1,
        ),
        _rec(3, project="shop", model="claude", input_tokens=1, status="client_disconnected", cost_usd=None),
        _rec(4, project="blog", model="claude", input_tokens=100, cost_usd=1.0, status="interrupted"),
        _rec(5, project="blog", model="claude", input_tokens=999, status="in_flight"),
    )
    report = _stats(db_path)
    assert report["by"] == "project"
    rows = {row["key"]: row for row in report["rows"]}  # type: ignore[attr-defined]
    assert [row["key"] for row in report["rows"]] == ["blog", "shop"]  # type: ignore[attr-defined]  # costliest first
    assert rows["shop"] == {
        "key": "shop",
        "requests": 3,
        "input_tokens": 31,
        "output_tokens": 5,
        "cache_read_tokens": 7,
        "cache_write_tokens": 3,
        "cache_write_1h_tokens": 1,
        "reasoning_tokens": 2,
        "cost_usd": 0.75,
        "latency_p50_ms": 102.0,
        "latency_p95_ms": 103.0,
        "error_rate": round(1 / 3, 4),  # a client hanging up is not an error
    }
    assert rows["blog"]["requests"] == 1 and rows["blog"]["error_rate"] == 1.0  # in_flight left out
    total = report["total"]
    assert total["requests"] == 4 and total["input_tokens"] == 131 and total["cost_usd"] == 1.75  # type: ignore[index]
    by_model = {row["key"]: row["requests"] for row in _stats(db_path, "model")["rows"]}  # type: ignore[attr-defined]
    assert by_model == {"gpt-4o": 2, "claude": 2}
    only_shop = _stats(db_path, "model", project="shop")
    assert only_shop["total"]["requests"] == 3  # type: ignore[index]


def test_since_and_until_bound_the_rows(db_path: Path) -> None:
    write_records(db_path, *(_rec(n) for n in range(1, 6)))
    report = usage_stats(
        db_path,
        since=datetime(2025, 3, 1, 10, 2, tzinfo=UTC),
        until=datetime(2025, 3, 1, 10, 4, tzinfo=UTC),
    )
    assert report["total"]["requests"] == 2
    assert usage_stats(db_path, since=NOW, until=SINCE)["rows"] == []
    # The default window is the last 7 days before now.
    assert usage_stats(db_path, now=datetime(2025, 3, 7, tzinfo=UTC))["total"]["requests"] == 5
    assert usage_stats(db_path, now=datetime(2025, 3, 9, tzinfo=UTC))["total"]["requests"] == 0


def test_clients_group_by_their_short_name_whatever_the_user_agent(db_path: Path) -> None:
    write_records(
        db_path,
        _rec(1, client="claude", user_agent="claude-cli/1.0.83 (external, cli)"),
        _rec(2, client="claude", user_agent="claude-cli/1.0.90 (external, cli)"),
        _rec(3, client="aider", user_agent="OpenAI/Python 1.99.1"),  # wrapped by `memproxy intercept`
        _rec(4, client="openai-python", user_agent="OpenAI/Python 1.99.1"),
        _rec(5, client=None),
    )
    rows = {row["key"]: row["requests"] for row in _stats(db_path, "client")["rows"]}  # type: ignore[attr-defined]
    assert rows == {"claude": 2, "aider": 1, "openai-python": 1, None: 1}


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_percentiles_are_exact_to_1ms_below_a_second_and_1_percent_above(db_path: Path) -> None:
    rng = random.Random(3)
    latencies = [rng.lognormvariate(6.5, 1.2) for _ in range(3000)]
    records = [_rec(0, id=f"x{i}", latency_ms=ms, project=f"p{i % 3}") for i, ms in enumerate(latencies)]
    records.append(_rec(0, id="no-latency", latency_ms=None))  # counted, not in the percentiles
    _insert(db_path, records)
    report = _stats(db_path)
    groups = {f"p{k}": [ms for i, ms in enumerate(latencies) if i % 3 == k] for k in range(3)}
    groups["total"] = latencies
    for row in [*report["rows"], report["total"]]:  # type: ignore[misc]
        if row["key"] == "default":
            assert row["latency_p50_ms"] is None and row["requests"] == 1
            continue
        for q, field in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms")):
            exact = _nearest_rank(groups[row["key"]], q)
            assert abs(row[field] - exact) <= max(1.0, exact * 0.01), (row["key"], field, row[field], exact)
    assert report["total"]["requests"] == 3001  # type: ignore[index]


def test_an_older_databank_without_the_stats_indexes_gives_the_same_report(tmp_path: Path) -> None:
    # Few latencies, many rows: the new databank reads each day bucket by bucket, the old one by time.
    records = [
        _rec(i, project=("a", "b")[i % 2], model=("m1", "m2")[i % 3 == 0], cost_usd=i / 100, latency_ms=10.0 * (i % 4))
        for i in range(1, 40)
    ]
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    _insert(new, records)
    conn = sqlite3.connect(old, isolation_level=None)
    migrate(conn, MIGRATIONS[:2])
    columns = [row[1] for row in conn.execute("PRAGMA table_info(requests)")]  # that release's columns
    conn.executemany(
        f"INSERT INTO requests ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [tuple(getattr(r, c) for c in columns) for r in records],
    )
    conn.close()
    for by in ("project", "model", "client", "day", "week", "month"):
        assert _stats(old, by) == _stats(new, by)


def test_days_weeks_and_months_are_local(db_path: Path, local_tz: None) -> None:
    write_records(
        db_path,
        _rec(1, started_at="2025-03-01T03:00:00.000Z", cost_usd=1.0),  # Feb 28, 22:00 in New York
        _rec(2, started_at="2025-03-01T06:00:00.000Z", cost_usd=2.0),  # Mar 1
        _rec(3, started_at="2025-03-10T03:30:00.000Z", cost_usd=4.0),  # Mar 9, 23:30 (EDT, after the switch)
        _rec(4, started_at="2025-03-10T04:30:00.000Z", cost_usd=8.0),  # Mar 10, 00:30 EDT
    )
    days = {row["key"]: row["cost_usd"] for row in _stats(db_path, "day")["rows"]}  # type: ignore[attr-defined]
    assert days == {"2025-02-28": 1.0, "2025-03-01": 2.0, "2025-03-09": 4.0, "2025-03-10": 8.0}
    assert list(days) == sorted(days)  # time groups in time order
    weeks = {row["key"]: row["requests"] for row in _stats(db_path, "week")["rows"]}  # type: ignore[attr-defined]
    assert weeks == {"2025-02-24": 2, "2025-03-03": 1, "2025-03-10": 1}  # weeks start on Monday
    months = {row["key"]: row["requests"] for row in _stats(db_path, "month")["rows"]}  # type: ignore[attr-defined]
    assert months == {"2025-02": 1, "2025-03": 3}


def test_periods_cover_the_range_exactly_across_dst(local_tz: None) -> None:
    since = datetime(2025, 3, 8, 12, tzinfo=UTC)
    until = datetime(2025, 3, 11, tzinfo=UTC)
    spans = periods("day", since, until)
    assert [key for key, _, _ in spans] == ["2025-03-08", "2025-03-09", "2025-03-10"]
    assert spans[0][1] == since and spans[-1][2] == until
    assert all(a[2] == b[1] for a, b in itertools.pairwise(spans))  # no gaps, no overlaps
    assert spans[1][2] - spans[1][1] == (datetime(2025, 3, 10, 4, tzinfo=UTC) - datetime(2025, 3, 9, 5, tzinfo=UTC))
    months = periods("month", datetime(2024, 12, 15, tzinfo=UTC), datetime(2025, 2, 2, tzinfo=UTC))
    assert [key for key, _, _ in months] == ["2024-12", "2025-01", "2025-02"]


# The full-text index (m003) that `logs -q` searches.


def _ids(path: Path, search: str) -> list[str]:
    return [row["id"] for row in recent(path, row_filter=RowFilter(search=search))]


def _fts_ok(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO requests_fts (requests_fts) VALUES ('integrity-check')")
    (indexed,) = conn.execute("SELECT COUNT(*) FROM requests_fts_docsize").fetchone()
    (finished,) = conn.execute("SELECT COUNT(*) FROM requests WHERE status != 'in_flight'").fetchone()
    conn.close()
    assert indexed == finished


def test_search_finds_words_of_decoded_json_prompts_and_responses(db_path: Path) -> None:
    body = '{"messages": [{"role": "user", "content": "first line\\nzebra crossing caf\\u00e9"}]}'
    write_records(
        db_path, _rec(1, request_json=body, response_text="Giraffes are tall."), _rec(2, request_json="plain")
    )
    assert _ids(db_path, "zebra") == ["r1"]  # after a \n escape, still a word
    assert _ids(db_path, "café") == ["r1"]
    assert _ids(db_path, "giraffe") == ["r1"]  # words match as prefixes
    assert _ids(db_path, "zebra giraffe") == ["r1"]  # every word must be there
    assert _ids(db_path, "zebra plain") == []
    assert _ids(db_path, "PLAIN") == ["r2"]
    _fts_ok(db_path)


def test_search_survives_fts_syntax_in_the_query(db_path: Path) -> None:
    write_records(db_path, _rec(1, request_json='{"q": "NEAR(a b) OR c*"}'))
    for query in ('"', "*", "NEAR(", "a OR", "AND", "col:x", "^", "(", "' OR 1=1 --", "🙂", "-", "x" * 500):
        recent(db_path, row_filter=RowFilter(search=query))  # never an FTS5 syntax error
    assert match_words('say "hi" OR NEAR') == '"say"* "hi"* "OR"* "NEAR"*'
    assert match_words("?!") is None


def test_the_final_row_replaces_the_in_flight_one_in_the_index(db_path: Path) -> None:
    started = _rec(1, status="in_flight", request_json='{"content": "quokka"}')
    write_records(db_path, started)
    assert _ids(db_path, "quokka") == []  # not indexed while in flight
    final = _rec(1, request_json='{"content": "quokka"}', response_text="wombat")
    write_records(db_path, final)
    assert _ids(db_path, "quokka") == ["r1"] and _ids(db_path, "wombat") == ["r1"]
    write_records(db_path, _rec(1, request_json='{"content": "quokka"}', response_text="numbat"))  # replaced again
    assert _ids(db_path, "wombat") == [] and _ids(db_path, "numbat") == ["r1"]
    _fts_ok(db_path)


def test_interrupted_rows_are_indexed_and_deleted_rows_leave_the_index(db_path: Path) -> None:
    write_records(
        db_path, _rec(1, status="in_flight", request_json='{"content": "axolotl"}'), _rec(2, response_text="x")
    )
    conn = open_db(db_path)
    assert mark_interrupted(conn) == 1
    conn.close()
    assert _ids(db_path, "axolotl") == ["r1"]
    conn = open_db(db_path)
    conn.execute("DELETE FROM requests WHERE id = 'r1'")
    conn.close()
    assert _ids(db_path, "axolotl") == []
    _fts_ok(db_path)


def test_an_older_databank_is_indexed_when_migrated(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO requests (id, started_at, request_json, response_text) VALUES ('old', ?, ?, 'meerkat')",
        ("2025-03-01T10:00:00.000Z", '{"content": "pangolin"}'),
    )
    conn.close()
    assert _ids(db_path, "pangolin") == ["old"]  # read-only and not migrated: a LIKE scan
    open_db(db_path).close()
    assert _ids(db_path, "pangolin") == ["old"] and _ids(db_path, "meerkat") == ["old"]
    _fts_ok(db_path)


def test_a_databank_from_before_m006_reads_zero_one_hour_writes_and_reasoning(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, [m for m in MIGRATIONS if m[0] < "m006"])
    conn.execute(
        "INSERT INTO requests (id, started_at, project, cache_write_tokens, latency_ms) "
        "VALUES ('a', '2025-03-01T00:00:00.000Z', 'old', 9, 10)"
    )
    conn.close()
    (row,) = usage_stats(db_path, by="project", since=datetime(2000, 1, 1, tzinfo=UTC))["rows"]  # type: ignore[misc]
    assert (row["cache_write_tokens"], row["cache_write_1h_tokens"], row["reasoning_tokens"]) == (9, 0, 0)
