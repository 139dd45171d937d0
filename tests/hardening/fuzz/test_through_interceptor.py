"""The same hostility through a project's interceptor port: Content-Length lies are a 400 or a close,
never an unhandled error, and the property finds no 5xx there either."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.daemon import Daemon
from tests.support.fuzzing import KNOWN_5XX, Case, cases, render_case
from tests.support.hardening import USER, figure
from tests.support.processes import daemon_pid, pid_running
from tests.support.upstream.observing import ObservingUpstream
from tests.support.wire import raw_http, status_of

pytestmark = pytest.mark.e2e


INTERCEPTOR_EXAMPLES = 400

# --- the same hostility through a project's interceptor port -----------------------------------------------

BUG_FORWARDER_BODY_ERRORS = pytest.mark.regression(
    reason="BUG: interceptor/forwarder.py forwarder() caught only httpx.TransportError around client.send(); a "
    "tool that closes before sending the Content-Length it declared made httpx raise h11's LocalProtocolError "
    "('Too little data for declared Content-Length'), which escaped to uvicorn ('Exception in ASGI application', "
    "a 500 if the tool still listens); fixed: a disconnect before the body ends stops the forward (_ClientGone)",
    strict=True,
)


@pytest.mark.parametrize("length", ["short", pytest.param("long", marks=BUG_FORWARDER_BODY_ERRORS)])
def test_content_length_lies_through_the_interceptor_are_handled(
    daemon: Daemon, project_port: int, length: str
) -> None:
    """As on the gateway itself: a 400, or (the tool stopped sending) a closed connection; never an unhandled error."""
    log = daemon.home / "daemon.log"
    before = log.read_text(errors="replace").count("Exception in ASGI application")
    body = json.dumps({"model": "gpt-4o", "messages": USER}).encode()
    declared = len(body) - 7 if length == "short" else len(body) + 50
    raw = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    answer = raw_http(project_port, raw, half_close=length == "long")
    assert answer == b"" or status_of(answer) == 400, answer[:300]
    time.sleep(0.3)
    assert log.read_text(errors="replace").count("Exception in ASGI application") == before


@pytest.mark.slow
def test_malformed_requests_through_the_interceptor_never_cause_a_5xx(
    daemon: Daemon, project_port: int, upstream: ObservingUpstream
) -> None:
    pid = daemon_pid(daemon)
    counts: dict[str, int] = {"sent": 0, "fake_failed": 0, "known": 0}
    started = time.monotonic()

    @settings(
        max_examples=INTERCEPTOR_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def one(case: Case) -> None:
        raw, half_close = render_case(case, project_port)
        crashes = upstream.crashes
        answer = raw_http(project_port, raw, half_close=half_close, timeout=15)
        counts["sent"] += 1
        status = status_of(answer)
        if status is None or status < 500:
            return
        if upstream.crashes > crashes:
            counts["fake_failed"] += 1
        elif any(sig.encode() in answer for sig in KNOWN_5XX):
            counts["known"] += 1
        else:
            raise AssertionError(f"{status} for {case!r}:\n{answer[:600]!r}")

    try:
        one()
    finally:
        figure(
            "fuzz_through_interceptor",
            requests=counts["sent"],
            seconds=time.monotonic() - started,
            known_bug_5xx=counts["known"],
            fake_upstream_failed=counts["fake_failed"],
            crashes=0 if pid_running(pid) else 1,
        )
    assert pid_running(pid)
    assert httpx.get(f"http://127.0.0.1:{project_port}/health", timeout=5).status_code == 200
