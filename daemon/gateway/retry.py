"""How long the fast path waits before trying an upstream again (pure: randomness and clock are injected).

Exponential backoff with full jitter (a random wait between 0 and the exponential cap, AWS's
"Exponential Backoff And Jitter"): clients that all got a 429 at once do not come back in lockstep.
A wait the server asks for is honoured as asked, never jittered shorter: `retry-after-ms` (OpenAI's,
which its SDK reads first) or `Retry-After` in either of HTTP's forms, seconds or an HTTP-date.
A requested wait longer than `max_wait` is not slept through: the caller gives up and the client hears
the 429 now (it has its own budget and may decide better).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


def requested_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The seconds the server asks to wait (`retry-after-ms`, then `Retry-After`), or None if it asks nothing.

    `now` is the Unix time an HTTP-date is measured from; a date in the past asks for no wait.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return _sane(float(ms) / 1000.0)
        except ValueError:
            pass
    after = headers.get("retry-after")
    if not after:
        return None
    try:
        return _sane(float(after))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(after)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110: an HTTP-date is always GMT
        return None
    return max(moment.timestamp() - now, 0.0)


def _sane(seconds: float) -> float | None:
    return max(seconds, 0.0) if seconds == seconds and seconds != float("inf") else None  # NaN, inf: ignored


@dataclass(frozen=True)
class Backoff:
    """The fast path's retry waits; `rand` (in [0, 1)) and `now` (Unix seconds) are swapped in by tests."""

    base: float = 0.25
    cap: float = 4.0
    # the longest server-requested wait slept through; the caller also bounds it by its own timeout
    max_wait: float = 20.0
    rand: Callable[[], float] = field(default=random.random, repr=False)
    now: Callable[[], float] = field(default=time.time, repr=False)

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float | None:
        """Seconds to wait before retry number `attempt + 1`; None when the server asks for too long."""
        asked = requested_wait(headers, self.now()) if headers is not None else None
        if asked is not None:
            return asked if asked <= self.max_wait else None
        return self.rand() * min(self.cap, self.base * 2**attempt)
