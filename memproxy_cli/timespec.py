"""`--since` / `--until` values: `30m`, `1h`, `2d`, `1w`, `today`, `yesterday`, a date or a datetime.

Durations count back from now. Dates, `today` and `yesterday` are local days: as `--since` they
mean the day's first moment, as `--until` the moment after its last (so `--until 2025-03-01`
includes March 1st). A datetime without an offset is local time.
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
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}
_DURATION = re.compile(r"(\d+)\s*([a-z]+)")
HINT = "use e.g. 30m, 2h, 7d, 1w, today, yesterday, 2025-03-01 or 2025-03-01T14:30"


def parse_timespec(text: str, now: datetime | None = None, *, end: bool = False) -> datetime:
    """The moment `text` names, timezone-aware; `end` reads a whole day as its end rather than its start."""
    now = (now or datetime.now()).astimezone()
    spec = text.strip().lower()
    match = _DURATION.fullmatch(spec)
    unit = _unit(match.group(2)) if match else None
    if match and unit:
        try:
            return now - timedelta(**{unit: int(match.group(1))})
        except OverflowError:
            raise TimespecError(f"{text!r} reaches too far back") from None
    today = now.date()
    day: date | None = {"today": today, "yesterday": today - timedelta(days=1)}.get(spec)
    if day is None and re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", spec):
        day = _parse(text, date.fromisoformat)
    if day is not None:
        if end:
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day).astimezone()
    moment = _parse(text, lambda s: datetime.fromisoformat(s.replace(" ", "T", 1)))
    return moment if moment.tzinfo is not None else moment.astimezone()


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
