"""`--since` / `--until` values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daemon.errors import TimespecError
from memproxy_cli.timespec import parse_timespec

NOW = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("90s", timedelta(seconds=90)),
        ("2days", timedelta(days=2)),
        ("3 hrs", timedelta(hours=3)),
        (" 10MIN ", timedelta(minutes=10)),
        ("0d", timedelta(0)),
    ],
)
def test_durations_count_back_from_now(text: str, ago: timedelta) -> None:
    assert parse_timespec(text, NOW) == NOW - ago
    assert parse_timespec(text, NOW, end=True) == NOW - ago  # an instant is the same either way


def test_days_are_local_and_whole() -> None:
    local_now = NOW.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert parse_timespec("today", NOW) == midnight
    tomorrow = datetime.combine(midnight.date() + timedelta(days=1), datetime.min.time()).astimezone()
    assert parse_timespec("today", NOW, end=True) == tomorrow
    assert parse_timespec("yesterday", NOW).date() == midnight.date() - timedelta(days=1)
    assert parse_timespec("yesterday", NOW, end=True) == midnight
    start = parse_timespec("2025-03-01", NOW)
    assert (start.year, start.month, start.day, start.hour) == (2025, 3, 1, 0)
    assert start.utcoffset() == datetime(2025, 3, 1).astimezone().utcoffset()
    assert parse_timespec("2025-03-01", NOW, end=True).date().isoformat() == "2025-03-02"  # includes March 1st
    assert parse_timespec("20250301", NOW) == start


def test_datetimes_are_local_unless_they_say_otherwise() -> None:
    assert parse_timespec("2025-03-01T14:30Z", NOW) == datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
    assert parse_timespec("2025-03-01 14:30+01:00", NOW) == datetime(2025, 3, 1, 13, 30, tzinfo=UTC)
    assert parse_timespec("2025-03-01T14:30", NOW) == datetime(2025, 3, 1, 14, 30).astimezone()


@pytest.mark.parametrize(
    "text", ["nonsense", "", "5ms", "-2d", "2025-02-30", "2025-13-01", "1.5h", "d", "yesterday-ish", "99999999999w"]
)
def test_nonsense_is_a_clear_error(text: str) -> None:
    with pytest.raises(TimespecError) as caught:
        parse_timespec(text, NOW)
    message = str(caught.value)
    assert repr(text) in message
    assert "30m" in message or "too far back" in message


@pytest.mark.parametrize(
    ("text", "ago"),
    [("1h30m", timedelta(minutes=90)), ("2w", timedelta(weeks=2)), ("1d 12h", timedelta(hours=36))],
)
def test_durations_combine(text: str, ago: timedelta) -> None:
    assert parse_timespec(text, NOW) == NOW - ago


@pytest.mark.parametrize("text", ["1mo", "1 month", "month", "1mon"])
def test_mo_and_month_are_months_m_is_minutes(text: str) -> None:
    assert parse_timespec(text, NOW) == datetime(2025, 2, 12, 15, 30, tzinfo=UTC)
    assert parse_timespec("1m", NOW) == NOW - timedelta(minutes=1)
    end_of_march = datetime(2025, 3, 31, 9, tzinfo=UTC)
    assert parse_timespec("1mo", end_of_march) == datetime(2025, 2, 28, 9, tzinfo=UTC)  # no February 31st


def test_a_capital_m_is_refused_with_both_spellings() -> None:
    with pytest.raises(TimespecError) as caught:
        parse_timespec("1M", NOW)
    assert "1m" in str(caught.value) and "1mo" in str(caught.value)


def test_months_and_weeks_are_whole_and_local() -> None:
    start, end = parse_timespec("2026-12", NOW), parse_timespec("2026-12", NOW, end=True)
    assert (start.year, start.month, start.day, start.hour) == (2026, 12, 1, 0)
    assert (end.year, end.month, end.day, end.hour) == (2027, 1, 1, 0)  # --until 2026-12 includes December 31st
    local = NOW.astimezone()
    this_month = parse_timespec("this-month", NOW)
    assert (this_month.month, this_month.day, this_month.hour) == (local.month, 1, 0)
    this_week = parse_timespec("this-week", NOW)
    assert this_week.weekday() == 0 and this_week.hour == 0 and 0 <= (local - this_week).days < 7
    with pytest.raises(TimespecError) as caught:
        parse_timespec("2026-13", NOW)
    assert "'2026-13'" in str(caught.value)
