"""429 and 5xx are retried within the Router's budget (Retry-After honoured), past it a 502 and an error
row; a stall past router_settings.timeout is a 504; and, last in the package (conftest.py), a
Retry-After the budget cannot cover is not slept through."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.daemon import Daemon
from tests.support.faults import PAIRS, RETRIES, TIMEOUT, error_message, final_row, new_project, pair_id, post
from tests.support.hardening import figure
from tests.support.upstream import error, stall, text
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e


# --- 429 and 5xx: retried within the Router's budget ---------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS[::2], ids=pair_id)
def test_429_with_retry_after_is_retried(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = new_project("retry-after")
    fake.script(error(429, headers={"retry-after": "1"}), text("after the wait"))
    t0 = time.monotonic()
    r = post(daemon, route, model, project)
    took = time.monotonic() - t0
    gap = fake.started[1] - fake.started[0] if len(fake.started) == 2 else None
    figure(f"retry_after[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, retry_gap_s=gap or -1.0)
    assert r.status_code == 200, r.text
    assert "after the wait" in r.text
    assert len(fake.requests) == 2
    assert gap is not None and gap >= 0.9, f"Retry-After: 1 not honoured (retried after {gap} s)"
    assert took < (RETRIES + 1) * TIMEOUT
    assert final_row(daemon, project)["status"] == "ok"


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
def test_5xx_is_retried(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = new_project("retry-5xx")
    fake.script(error(500), error(503), text("third time lucky"))
    t0 = time.monotonic()
    r = post(daemon, route, model, project)
    took = time.monotonic() - t0
    figure(f"retry_5xx[{pair_id(pair)}]", attempts=len(fake.requests), seconds=took, status=r.status_code)
    assert r.status_code == 200, r.text
    assert "third time lucky" in r.text
    assert len(fake.requests) == 3
    assert final_row(daemon, project)["status"] == "ok"


def test_5xx_past_the_retry_budget_is_a_502_and_an_error_row(daemon: Daemon, fake: ObservingUpstream) -> None:
    project = new_project("retry-exhausted")
    fake.script(*[error(500, message="always down")] * (RETRIES + 1))
    r = post(daemon, "openai", "openai", project)
    figure("retry_5xx_exhausted", attempts=len(fake.requests), status=r.status_code)
    assert r.status_code == 502, r.text
    assert error_message("openai", r.json())
    assert len(fake.requests) == RETRIES + 1
    row = final_row(daemon, project)
    assert (row["status"], row["http_status"]) == ("error", 502)


# --- stalls past router_settings.timeout -------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS[::2], ids=pair_id)
def test_stall_past_the_timeout_is_a_504(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = new_project("stall")
    fake.script(*[stall(30)] * (RETRIES + 1))
    t0 = time.monotonic()
    r = post(daemon, route, model, project)
    took = time.monotonic() - t0
    figure(f"stall_504[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, status=r.status_code)
    assert r.status_code == 504, r.text
    assert error_message(route, r.json())
    assert took < (RETRIES + 1) * (TIMEOUT + 1.5)
    row = final_row(daemon, project)
    assert (row["status"], row["http_status"]) == ("error", 504)


# --- last: leaves a request behind in the daemon while its bug stands ---------------------------------------

BUG_RETRY_AFTER_UNBOUNDED = pytest.mark.regression(
    reason="BUG: daemon/llm.py router_kwargs(): LiteLLM's Router sleeps whatever Retry-After the provider sends "
    "(up to 60 s, litellm._calculate_retry_after) regardless of router_settings.timeout, so `retry-after: 30` holds "
    "the client 30 s+ per retry; and a non-streamed request goes on retrying after its client hung up "
    "(daemon/generate.py has no disconnect watch outside streams)",
    strict=True,
)


@BUG_RETRY_AFTER_UNBOUNDED
@pytest.mark.parametrize("pair", PAIRS[:1], ids=pair_id)
def test_429_with_retry_after_beyond_the_budget_answers_429_at_once(
    daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]
) -> None:
    """A Retry-After the budget cannot cover is not slept through: the client gets the 429 (and decides).

    Last in the module: while the bug stands, the gateway keeps retrying after the client gave up, and
    those late attempts would land in the next test's upstream."""
    route, model = pair
    project = new_project("retry-after-long")
    fake.script(error(429, headers={"retry-after": "30"}), text("too late"))
    t0 = time.monotonic()
    try:
        r = post(daemon, route, model, project, timeout=(RETRIES + 1) * TIMEOUT + 1)
        status: int | None = r.status_code
    except httpx.TimeoutException:
        status = None
    took = time.monotonic() - t0
    figure(f"retry_after_beyond_budget[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, status=status)
    assert status in (429, 200)
    assert took < (RETRIES + 1) * TIMEOUT + 1
