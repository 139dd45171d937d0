"""Clients that hang up: mid-stream, the upstream request is cancelled within a second and the row is
client_disconnected; the moment the terminal event arrived, the row is ok (gateway and interceptor)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from tests.support.daemon import Daemon
from tests.support.databank import db_rows
from tests.support.faults import ANSWER, PAIRS, new_project, pair_id
from tests.support.hardening import MODELS, ROUTES, USER, figure
from tests.support.polling import wait_for
from tests.support.upstream import text
from tests.support.upstream.observing import ObservingUpstream, linger_after_end

pytestmark = pytest.mark.e2e


# --- a client that hangs up mid-stream: the upstream request is cancelled within a second -------------------


def _hang_up_mid_stream(port: int, route: str, model: str, project: str) -> float:
    """Open a stream, read its first chunk, hang up; return time.monotonic() of the hang-up."""
    body = json.dumps({"model": MODELS[model], "messages": USER, "max_tokens": 200, "stream": True}).encode()
    head = (
        f"POST {ROUTES[route]} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"x-memproxy-project: {project}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head + body)
    got = b""
    while b"data:" not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    sock.close()
    return time.monotonic()


BUG_PASSTHROUGH_NOT_CANCELLED = pytest.mark.regression(
    reason="BUG: /v1/messages for a claude model (LiteLLM's Anthropic pass-through): closing the relay "
    "(daemon/sse.py _aclose(self.chunks) → relay_anthropic's generator) does not close LiteLLM's upstream "
    "response, so the upstream connection stays open until the provider finishes",
    strict=True,
)


def _disconnect_cases() -> list[Any]:
    cases = [pytest.param("gateway", pair, id=f"gateway-{pair_id(pair)}") for pair in PAIRS]
    cases += [pytest.param("interceptor", pair, id=f"interceptor-{pair_id(pair)}") for pair in PAIRS[::2]]
    return cases


@pytest.mark.parametrize(("target", "pair"), _disconnect_cases())
def test_client_hang_up_cancels_the_upstream_within_a_second(
    daemon: Daemon, fake: ObservingUpstream, request: pytest.FixtureRequest, target: str, pair: tuple[str, str]
) -> None:
    route, model = pair
    port = daemon.port if target == "gateway" else request.getfixturevalue("project_port")
    project = "faults" if target == "interceptor" else new_project("hangup")
    fake.chunks, fake.chunk_interval_ms = 100, 200  # a 20 s answer
    before = {r["id"] for r in db_rows(daemon.home, "project = ?", (project,))}
    hung_up = _hang_up_mid_stream(port, route, model, project)
    seen = wait_for(lambda: fake.hangups, 5, interval=0.01)
    cancel_s = seen[0] - hung_up if seen else -1.0

    def final() -> list[dict[str, Any]]:
        rows = db_rows(daemon.home, "project = ?", (project,))
        return [r for r in rows if r["id"] not in before and r["status"] != "in_flight"]

    rows = wait_for(final, 5, interval=0.01)
    row_s = time.monotonic() - hung_up
    figure(
        f"client_disconnect[{target}-{pair_id(pair)}]",
        upstream_cancelled_after_s=cancel_s,
        row_status=rows[0]["status"] if rows else None,
        row_within_s=row_s,
    )
    assert seen, "the upstream never saw the gateway hang up"
    assert cancel_s < 1.0, f"the upstream request was cancelled {cancel_s:.2f} s after the client hung up"
    assert rows and rows[-1]["status"] == "client_disconnected", rows


# --- a client that closes the moment the terminal event arrived: the row is ok ---------------------------

TERMINAL = {"openai": b"data: [DONE]", "anthropic": b"event: message_stop", "responses": b"event: response.completed"}
LINGER_S = 3.0
READS = 7


def _read_to_the_end_and_close(port: int, route: str, model: str, project: str) -> bytes:
    """Open a stream, read until its terminal event has arrived, close at once; return what came."""
    path = "/v1/responses" if route == "responses" else ROUTES[route]
    fields: dict[str, Any] = {"input": "hi"} if route == "responses" else {"messages": USER, "max_tokens": 20}
    body = json.dumps({"model": MODELS[model], **fields, "stream": True}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"x-memproxy-project: {project}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=LINGER_S + 10) as sock:
        sock.sendall(head + body)
        got = b""
        while TERMINAL[route] not in got:
            chunk = sock.recv(65536)
            assert chunk, got[-300:]
            got += chunk
    return got


BUG_TERMINAL_THEN_CLOSE = pytest.mark.regression(
    reason="BUG: a stream read to its terminal event and closed at once was recorded client_disconnected/499: "
    "the relay waited for the upstream to close after [DONE] (message_stop, response.completed), and the hang-up "
    "cancelled it there; fixed: the relays mark the terminal event handed on (Tally.complete), edge.guarded ends "
    "such a stream ok whatever the client does next, and the relays stop reading at the terminal event",
    strict=True,
)


@BUG_TERMINAL_THEN_CLOSE
@pytest.mark.parametrize("target", ["gateway", "interceptor"])
@pytest.mark.parametrize(
    ("route", "model"),
    [("openai", "openai"), ("anthropic", "anthropic"), ("openai", "anthropic"), ("responses", "openai")],
    ids=["chat<-gpt-4o", "messages<-claude", "chat<-claude", "responses<-gpt-4o"],
)
def test_a_stream_whose_terminal_event_reached_the_client_is_ok_whatever_it_does_next(
    daemon: Daemon, fake: ObservingUpstream, request: pytest.FixtureRequest, target: str, route: str, model: str
) -> None:
    """The upstream holds the connection open after its last event (`linger`); the client reads to the
    terminal event and closes. Every row is ok, with its tokens."""
    port = daemon.port if target == "gateway" else request.getfixturevalue("project_port")
    project = "faults" if target == "interceptor" else new_project("terminal")
    before = {r["id"] for r in db_rows(daemon.home, "project = ?", (project,))}
    fake.script(*[linger_after_end(LINGER_S, text(ANSWER))] * READS)
    for _ in range(READS):
        _read_to_the_end_and_close(port, route, model, project)

    def final() -> list[dict[str, Any]]:
        rows = [r for r in db_rows(daemon.home, "project = ?", (project,)) if r["id"] not in before]
        return rows if len(rows) == READS and all(r["status"] != "in_flight" for r in rows) else []

    rows = wait_for(final, LINGER_S + 5)
    statuses = [r["status"] for r in rows]
    figure(f"terminal_then_close[{target}-{route}<-{MODELS[model]}]", ok=statuses.count("ok"), rows=len(rows))
    assert rows, f"{READS} final rows did not come\n{daemon.log_tail()}"
    assert statuses == ["ok"] * READS, [(r["status"], r["http_status"], r["error"]) for r in rows]
    assert all(r["output_tokens"] for r in rows), [r["output_tokens"] for r in rows]
