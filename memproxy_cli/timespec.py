"""`--since` / `--until` values: `30m`, `1h30m`, `2d`, `1w`, `1mo`, `today`, `yesterday`, `this-week`,
`this-month`, a month (`2026-12`), a date or a datetime.

Durations count back from now and may be combined (`1h30m`); `m` is minutes and `mo` months
(as in `journalctl`/`gh`): `1M` is refused as ambiguous, with both spellings. A bare unit word
(`hour`, `day`, `week`, `month`) is one of it. Days, weeks (from Monday) and months are local:
as `--since` they mean their first moment, as `--until` the moment after their last (so
`--until 2025-03-01` includes March 1st, `--until 2026-12` all of December). A datetime
without an offset is local time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from daemon.errors import TimespecError

T = TypeVar("T")

_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "mo": "months",
    "mon": "months",
    "month": "months",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}
_PART = re.compile(r"(\d+)\s*([a-z]+)\s*")
_DURATION = re.compile(r"(?:\d+\s*[a-z]+\s*)+")
_BARE = frozenset({"hour", "day", "week", "month"})
HINT = "use e.g. 30m, 1h30m, 7d, 2w, 1mo, today, yesterday, this-month, 2025-03, 2025-03-01 or 2025-03-01T14:30"


def parse_timespec(text: str, now: datetime | None = None, *, end: bool = False) -> datetime:
    """The moment `text` names, timezone-aware; `end` reads a whole day as its end rather than its start."""
    now = (now or datetime.now()).astimezone()
    spec = text.strip().lower()
    if spec in _BARE:
        spec = "1" + spec
    if re.search(r"\d\s*M\b", text.strip()):
        raise TimespecError(f"{text!r} is ambiguous: write 1m for a minute or 1mo for a month")
    if _DURATION.fullmatch(spec):
        parts = [(int(n), _unit(word)) for n, word in _PART.findall(spec)]
        if all(unit for _, unit in parts):
            return _back(now, parts, text)
    today = now.date()
    named = {
        "today": today,
        "yesterday": today - timedelta(days=1),
        "this-week": today - timedelta(days=today.weekday()),
        "this-month": today.replace(day=1),
    }
    day: date | None = named.get(spec)
    if spec == "this-month" or re.fullmatch(r"\d{4}-\d{2}", spec):
        first = day or _parse(text, lambda s: date.fromisoformat(s + "-01"))
        if end:
            first = _add_months(first, 1)
        return datetime(first.year, first.month, first.day).astimezone()
    if day is None and re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", spec):
        day = _parse(text, date.fromisoformat)
    if day is not None:
        if end:
            day += timedelta(days=7 if spec == "this-week" else 1)
        return datetime(day.year, day.month, day.day).astimezone()
    moment = _parse(text, lambda s: datetime.fromisoformat(s.replace(" ", "T", 1)))
    return moment if moment.tzinfo is not None else moment.astimezone()


def _back(now: datetime, parts: list[tuple[int, str | None]], text: str) -> datetime:
    months = sum(n for n, unit in parts if unit == "months")
    ago = {unit: n for n, unit in parts if unit and unit != "months"}
    try:
        moment = now - timedelta(**{unit: sum(n for n, u in parts if u == unit) for unit in ago})
        if months:
            day = _add_months(moment.date().replace(day=1), -months)
            last = (_add_months(day, 1) - timedelta(days=1)).day
            moment = moment.replace(year=day.year, month=day.month, day=min(moment.day, last))
    except (OverflowError, ValueError):
        raise TimespecError(f"{text!r} reaches too far back") from None
    return moment


def _add_months(first: date, months: int) -> date:
    """The first day of the month `months` after (or before) the month of `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _unit(word: str) -> str | None:
    # "2days", "3hrs": a plural s, but never on a one-letter unit ("5ms" is not 5 minutes).
    if word in _UNITS:
        return _UNITS[word]
    if len(word) > 2 and word.endswith("s"):
        return _UNITS.get(word[:-1])
    return None


def _parse(text: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(text.strip())
    except ValueError:
        raise TimespecError(f"cannot read {text!r} as a time: {HINT}") from None
