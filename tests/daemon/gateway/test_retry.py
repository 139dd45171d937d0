"""Retry waits: full jitter, the server's Retry-After (seconds or HTTP-date) and retry-after-ms, within the budget.

The pure part runs with injected randomness and clock; the fast path's `send` runs against the fake
upstream server with a recording sleep, so nothing here is timed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import aiohttp
import pytest

from daemon.errors import GatewayError
from daemon.gateway import passthrough
from daemon.gateway.retry import Backoff, requested_wait
from tests.support.upstream.observing import ObservingUpstream
from tests.support.upstream.replies import error, text

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def _backoff(rand: float) -> Backoff:
    return Backoff(base=0.25, cap=4.0, max_wait=20.0, rand=lambda: rand, now=lambda: NOW)


def test_full_jitter_spans_zero_to_the_exponential_cap() -> None:
    assert _backoff(0.0).delay(3) == 0.0
    assert [_backoff(0.5).delay(attempt) for attempt in range(6)] == [0.125, 0.25, 0.5, 1.0, 2.0, 2.0]
    assert _backoff(0.999).delay(10) == pytest.approx(3.996)


def test_two_clients_that_failed_together_come_back_apart() -> None:
    import random

    rng = random.Random(7)
    backoff = Backoff(rand=rng.random)
    waits = {backoff.delay(2) for _ in range(50)}
    assert len(waits) == 50 and all(w is not None and 0.0 <= w < 1.0 for w in waits)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW + 7, UTC), usegmt=True)}, 7.0),
        ({"retry-after": "Sat, 01 Mar 2025 11:00:00 GMT"}, 0.0),  # a date already past: no wait
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the OpenAI SDK reads the ms form first
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_the_wait_the_server_asks_for(headers: dict[str, str], wait: float | None) -> None:
    assert requested_wait(headers, NOW) == wait


def test_a_requested_wait_is_honoured_whole_and_one_beyond_the_budget_is_not_slept() -> None:
    assert _backoff(0.0).delay(0, {"retry-after": "5"}) == 5.0  # never jittered shorter than asked
    assert _backoff(0.0).delay(0, {"retry-after": "21"}) is None
    date = format_datetime(datetime.fromtimestamp(NOW + 60, UTC), usegmt=True)
    assert _backoff(0.0).delay(0, {"retry-after": date}) is None
    assert _backoff(0.5).delay(1, {"retry-after": "whenever"}) == 0.25  # unreadable: backoff as usual


class _Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _target(fake: ObservingUpstream) -> passthrough.Target:
    return passthrough.Target(
        url=f"{fake.url}/v1/chat/completions",
        model="gpt-4o-mini",
        headers={"content-type": "application/json", "authorization": "Bearer sk-test"},
        provider="openai",
    )


BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'


async def _send(fake: ObservingUpstream, backoff: Backoff, sleeps: _Sleeps, retries: int = 2) -> int:
    async with aiohttp.ClientSession() as client:
        response = await passthrough.send(
            client, _target(fake), BODY, retries=retries, timeout=30.0, backoff=backoff, sleep=sleeps
        )
        response.release()
        return response.status


async def test_send_sleeps_what_retry_after_ms_asks(fake: ObservingUpstream) -> None:
    fake.script(error(429, headers={"retry-after-ms": "40"}), text("after the wait"))
    sleeps = _Sleeps()
    assert await _send(fake, _backoff(0.9), sleeps) == 200
    assert sleeps.waits == [0.04]
    assert len(fake.requests) == 2


async def test_send_honours_an_http_date(fake: ObservingUpstream) -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 3, UTC), usegmt=True)
    fake.script(error(429, headers={"retry-after": date}), text("after the wait"))
    sleeps = _Sleeps()
    assert await _send(fake, _backoff(0.9), sleeps) == 200
    assert sleeps.waits == [3.0]


async def test_send_jitters_a_5xx_without_retry_after(fake: ObservingUpstream) -> None:
    fake.script(error(503), error(503), text("third time"))
    sleeps = _Sleeps()
    assert await _send(fake, _backoff(0.5), sleeps) == 200
    assert sleeps.waits == [0.125, 0.25]


async def test_send_answers_at_once_when_the_server_asks_beyond_the_budget(fake: ObservingUpstream) -> None:
    fake.script(error(429, headers={"retry-after": "120"}), text("too late"))
    sleeps = _Sleeps()
    with pytest.raises(GatewayError) as failure:
        await _send(fake, _backoff(0.5), sleeps)
    assert failure.value.status == 429
    assert sleeps.waits == [] and len(fake.requests) == 1
