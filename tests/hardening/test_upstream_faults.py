"""Upstream faults against the real daemon: rate limits, 5xx, stalls, broken streams, clients hanging up.

One daemon for the module (`router_settings: num_retries: 2, timeout: 2`) in front of a real fake
upstream that also notices when the gateway hangs up on it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import db_rows
from tests.support.hardening import MODELS, ROUTES, USER, config_text, figure
from tests.support.polling import wait_for
from tests.support.upstream import (
    corrupt_stream,
    cut_stream,
    error,
    malformed_event,
    raw,
    stall,
    stall_mid_stream,
    text,
)
from tests.support.upstream.observing import ObservingUpstream, linger_after_end, truncated_stream
from tests.support.wire import sse_events

pytestmark = pytest.mark.e2e

TIMEOUT = 2.0
RETRIES = 2
ANSWER = "one two three four five six seven eight"
# (route, model): each dialect, native and translated by LiteLLM
PAIRS = [
    ("openai", "openai"),
    ("openai", "anthropic"),
    ("anthropic", "anthropic"),
    ("anthropic", "openai"),
]


def pair_id(pair: tuple[str, str]) -> str:
    return f"{ROUTES[pair[0]]}<-{MODELS[pair[1]]}"


@pytest.fixture(scope="module")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = config_text(upstream.url, num_retries=RETRIES, timeout=TIMEOUT)
    d = start_daemon(tmp_path_factory.mktemp("faults-home"), config)
    try:
        yield d
    finally:
        d.down()


@pytest.fixture(scope="module")
def router_daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The same, with the fast path off: same-dialect streams go through LiteLLM's Router too."""
    config = config_text(upstream.url, num_retries=RETRIES, timeout=TIMEOUT, fast_path=False)
    d = start_daemon(tmp_path_factory.mktemp("faults-router-home"), config)
    try:
        yield d
    finally:
        d.down()


_counter = iter(range(1_000_000))


def _project(tag: str) -> str:
    return f"{tag}-{next(_counter)}"


def _post(daemon: Daemon, route: str, model: str, project: str, timeout: float = 30, **extra: Any) -> httpx.Response:
    body = {"model": MODELS[model], "messages": USER, "max_tokens": 20, **extra}
    return httpx.post(
        f"{daemon.url}{ROUTES[route]}", json=body, headers={"x-memproxy-project": project}, timeout=timeout
    )


def _final_row(daemon: Daemon, project: str, timeout: float = 5) -> dict[str, Any]:
    rows = wait_for(
        lambda: [r for r in db_rows(daemon.home, "project = ?", (project,)) if r["status"] != "in_flight"], timeout
    )
    assert len(rows) == 1, rows or f"no final row for {project}\n{daemon.log_tail()}"
    return rows[0]


def _error_message(route: str, payload: Any) -> str | None:
    """The message of an error body/event in the route's dialect, or None if it is not one."""
    if not isinstance(payload, dict):
        return None
    if route == "anthropic":
        err = payload.get("error") if payload.get("type") == "error" else None
    else:
        err = payload.get("error")
    return str(err.get("message")) if isinstance(err, dict) else None


# --- 429 and 5xx: retried within the Router's budget ---------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS[::2], ids=pair_id)
def test_429_with_retry_after_is_retried(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = _project("retry-after")
    fake.script(error(429, headers={"retry-after": "1"}), text("after the wait"))
    t0 = time.monotonic()
    r = _post(daemon, route, model, project)
    took = time.monotonic() - t0
    gap = fake.started[1] - fake.started[0] if len(fake.started) == 2 else None
    figure(f"retry_after[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, retry_gap_s=gap or -1.0)
    assert r.status_code == 200, r.text
    assert "after the wait" in r.text
    assert len(fake.requests) == 2
    assert gap is not None and gap >= 0.9, f"Retry-After: 1 not honoured (retried after {gap} s)"
    assert took < (RETRIES + 1) * TIMEOUT
    assert _final_row(daemon, project)["status"] == "ok"


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
def test_5xx_is_retried(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = _project("retry-5xx")
    fake.script(error(500), error(503), text("third time lucky"))
    t0 = time.monotonic()
    r = _post(daemon, route, model, project)
    took = time.monotonic() - t0
    figure(f"retry_5xx[{pair_id(pair)}]", attempts=len(fake.requests), seconds=took, status=r.status_code)
    assert r.status_code == 200, r.text
    assert "third time lucky" in r.text
    assert len(fake.requests) == 3
    assert _final_row(daemon, project)["status"] == "ok"


def test_5xx_past_the_retry_budget_is_a_502_and_an_error_row(daemon: Daemon, fake: ObservingUpstream) -> None:
    project = _project("retry-exhausted")
    fake.script(*[error(500, message="always down")] * (RETRIES + 1))
    r = _post(daemon, "openai", "openai", project)
    figure("retry_5xx_exhausted", attempts=len(fake.requests), status=r.status_code)
    assert r.status_code == 502, r.text
    assert _error_message("openai", r.json())
    assert len(fake.requests) == RETRIES + 1
    row = _final_row(daemon, project)
    assert (row["status"], row["http_status"]) == ("error", 502)


# --- stalls past router_settings.timeout -------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS[::2], ids=pair_id)
def test_stall_past_the_timeout_is_a_504(daemon: Daemon, fake: ObservingUpstream, pair: tuple[str, str]) -> None:
    route, model = pair
    project = _project("stall")
    fake.script(*[stall(30)] * (RETRIES + 1))
    t0 = time.monotonic()
    r = _post(daemon, route, model, project)
    took = time.monotonic() - t0
    figure(f"stall_504[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, status=r.status_code)
    assert r.status_code == 504, r.text
    assert _error_message(route, r.json())
    assert took < (RETRIES + 1) * (TIMEOUT + 1.5)
    row = _final_row(daemon, project)
    assert (row["status"], row["http_status"]) == ("error", 504)


# --- broken streams: an error event in the client's dialect, an error row ---------------------------------

FAULTS = {
    "cut": lambda: cut_stream(2, text(ANSWER)),
    "corrupt": lambda: corrupt_stream(2, text(ANSWER)),
    "truncated": lambda: truncated_stream(2, text(ANSWER)),
    "stalled": lambda: stall_mid_stream(2, 30, text(ANSWER)),
    # one event that is not JSON, then the rest of the stream to its proper end
    "malformed": lambda: malformed_event(2, text(ANSWER)),
}

BUG_CORRUPT_FORWARDED = pytest.mark.regression(
    reason="BUG: daemon/relay.py relay_anthropic() yields each upstream chunk before AnthropicStreamWatcher has "
    "judged it, so the malformed event reaches the client verbatim; and watch.error set by a malformed event "
    "(self.error = 'malformed stream event') only records the row: no `event: error` is sent to the client",
    strict=True,
)
BUG_SYNTHETIC_FINISH = pytest.mark.regression(
    reason="BUG: daemon/relay.py relay_openai() took any finish_reason as the end; LiteLLM's CustomStreamWrapper "
    "synthesizes finish_reason='stop' (finish_reason_handler) when an Anthropic stream ends without "
    "message_delta/message_stop (truncated, or a malformed event then a drop), so the cut answer ended with "
    "[DONE] and an ok row; fixed: relay.provider_finished() asks whether the finish is in the wrapper's chunks, "
    "which never hold the made-up one",
    strict=True,
)
BUG_MALFORMED_DROPPED = pytest.mark.regression(
    reason="BUG: LiteLLM's Responses iterator (_process_chunk) returns None on a JSONDecodeError and reads on, so "
    "/v1/messages served by an OpenAI deployment (through the Responses API) lost the malformed event's words "
    "and ended with message_stop and an ok row; fixed: gateway/streams.py DeltaText.lost compares the "
    "provider's final text with the deltas the iterator kept",
    strict=True,
)
BUG_MALFORMED_IS_A_400 = pytest.mark.regression(
    reason="BUG: a malformed OpenAI chunk through LiteLLM (fast path off) ended with an error event but a 400 "
    "row ('could not be translated'): map_exception took LiteLLM's JSONDecodeError for a local failure",
    strict=True,
)
KNOWN_STREAM_BUGS: dict[tuple[str, tuple[str, str]], Any] = {
    ("corrupt", ("anthropic", "anthropic")): BUG_CORRUPT_FORWARDED,
    ("corrupt", ("openai", "anthropic")): BUG_SYNTHETIC_FINISH,
    ("truncated", ("openai", "anthropic")): BUG_SYNTHETIC_FINISH,
    ("malformed", ("anthropic", "openai")): BUG_MALFORMED_DROPPED,
}
ROUTER_STREAM_BUGS: dict[tuple[str, tuple[str, str]], Any] = {
    ("truncated", ("openai", "openai")): BUG_SYNTHETIC_FINISH,
    ("malformed", ("openai", "openai")): BUG_MALFORMED_IS_A_400,
}


def _stream_cases() -> list[Any]:
    translated = [
        pytest.param(
            fault, pair, "daemon", marks=KNOWN_STREAM_BUGS.get((fault, pair), ()), id=f"{fault}-{pair_id(pair)}"
        )
        for fault in FAULTS
        for pair in PAIRS
    ]
    # same dialect with the fast path off: LiteLLM parses and re-encodes the stream
    through_router = [
        pytest.param(
            fault,
            pair,
            "router_daemon",
            marks=ROUTER_STREAM_BUGS.get((fault, pair), ()),
            id=f"{fault}-{pair_id(pair)}-router",
        )
        for fault in FAULTS
        for pair in PAIRS[::2]
    ]
    return translated + through_router


@pytest.mark.parametrize(("fault", "pair", "gateway"), _stream_cases())
def test_broken_stream_ends_with_an_error_event_and_an_error_row(
    request: pytest.FixtureRequest, fake: ObservingUpstream, fault: str, pair: tuple[str, str], gateway: str
) -> None:
    daemon: Daemon = request.getfixturevalue(gateway)
    route, model = pair
    project = _project(f"broken-{fault}")
    fake.script(FAULTS[fault]())
    body = {"model": MODELS[model], "messages": USER, "max_tokens": 20, "stream": True}
    raw = b""
    t0 = time.monotonic()
    with httpx.stream(
        "POST", f"{daemon.url}{ROUTES[route]}", json=body, headers={"x-memproxy-project": project}, timeout=30
    ) as r:
        assert r.status_code == 200
        try:
            for chunk in r.iter_raw():
                raw += chunk
        except httpx.HTTPError as exc:  # a cut connection is allowed only after an error event
            raw += f"\n\n<<{type(exc).__name__}>>".encode()
    took = time.monotonic() - t0
    events = sse_events(raw)
    errors = [_error_message(route, data) for name, data in events if _error_message(route, data)]
    if route == "anthropic":
        errors = [_error_message(route, data) for name, data in events if name == "error"]
        finished = any(name == "message_stop" for name, _ in events)
    else:
        finished = any(data == "[DONE]" for _, data in events)
    text_seen = "".join(
        str(((d.get("choices") or [{}])[0].get("delta") or {}).get("content") or "")
        if route == "openai"
        else str((d.get("delta") or {}).get("text") or "")
        for _, d in events
        if isinstance(d, dict)
    )
    row = _final_row(daemon, project)
    figure(
        f"broken_stream[{fault}-{pair_id(pair)}]",
        seconds=took,
        error_events=len(errors),
        finished=finished,
        row_status=row["status"],
    )
    assert errors, f"no error event in the {route} dialect:\n{raw.decode(errors='replace')[-600:]}"
    assert events[-1][1] is not None and _error_message(route, events[-1][1]), "the error event must come last"
    assert not finished, "a broken stream must not end like a finished one"
    assert text_seen != ANSWER
    assert row["status"] == "error", row
    assert row["error"]
    if fault != "stalled":
        assert row["http_status"] == 502, row  # the upstream's failure, never a 400 of the client's
    if fault == "stalled":
        assert took < TIMEOUT + 3, f"a stall mid-stream was not cut at the {TIMEOUT} s timeout"


# --- the Responses API (Codex CLI): the same broken streams, read by the OpenAI SDK ----------------------

BUG_RESPONSES_EVENT_NAMES = pytest.mark.regression(
    reason="BUG: daemon/routes_responses.py wrote `event: ResponsesAPIStreamEvents.RESPONSE_COMPLETED` (str() of "
    "LiteLLM's enum) instead of `event: response.completed`; fixed with model_dump(mode='json')",
    strict=True,
)
BUG_RESPONSES_SYNTHETIC_FINISH = pytest.mark.regression(
    reason="BUG: LiteLLM's chat->Responses bridge sends response.completed whenever its chat stream ends, so a "
    "Claude stream cut after a malformed event or truncated ended as a completed response and an ok row; fixed: "
    "relay.responses_provider_finished() checks the chat stream inside",
    strict=True,
)


@BUG_RESPONSES_EVENT_NAMES
@pytest.mark.parametrize("model", ["openai", "anthropic"])
def test_responses_stream_events_are_named_by_their_type(daemon: Daemon, fake: ObservingUpstream, model: str) -> None:
    fake.script(text(ANSWER))
    body = {"model": MODELS[model], "input": "hi", "stream": True}
    r = httpx.post(
        f"{daemon.url}/v1/responses", json=body, headers={"x-memproxy-project": _project("resp")}, timeout=30
    )
    events = sse_events(r.content)
    assert events and events[-1][0] == "response.completed"
    assert all(isinstance(data, dict) and name == data["type"] for name, data in events), events[:3]


BUG_RESPONSES_MALFORMED_DROPPED = pytest.mark.regression(
    reason="BUG: LiteLLM's Responses iterator skips an event it cannot parse and reads on: a gpt-4o Responses "
    "stream with one malformed event completed with a word missing and an ok row; fixed: relay_responses "
    "checks that sequence_number goes up by one (gateway/streams.py SequenceCheck)",
    strict=True,
)
_RESPONSES_BUGS = {
    ("corrupt", "anthropic"): BUG_RESPONSES_SYNTHETIC_FINISH,
    ("truncated", "anthropic"): BUG_RESPONSES_SYNTHETIC_FINISH,
    ("malformed", "openai"): BUG_RESPONSES_MALFORMED_DROPPED,
}


def _responses_cases() -> list[Any]:
    return [
        pytest.param(
            fault,
            model,
            marks=_RESPONSES_BUGS.get((fault, model), ()),
            id=f"{fault}-{MODELS[model]}",
        )
        for fault in ("cut", "corrupt", "truncated", "malformed")
        for model in ("openai", "anthropic")
    ]


@pytest.mark.parametrize(("fault", "model"), _responses_cases())
def test_broken_responses_stream_is_an_error_for_the_openai_sdk(
    daemon: Daemon, fake: ObservingUpstream, fault: str, model: str
) -> None:
    project = _project(f"resp-{fault}")
    fake.script(FAULTS[fault]())
    client = openai.OpenAI(
        base_url=f"{daemon.url}/v1", api_key="sk-test", default_headers={"x-memproxy-project": project}, max_retries=0
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for event in client.responses.create(model=MODELS[model], input="hi", stream=True):
            seen.append(event.type)
    assert "response.completed" not in seen
    assert "ended before" in str(caught.value) or "upstream" in str(caught.value).lower(), caught.value
    row = _final_row(daemon, project)
    figure(f"broken_responses[{fault}-{MODELS[model]}]", events=len(seen), row_status=row["status"])
    assert (row["status"], row["http_status"]) == ("error", 502)


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


@pytest.fixture(scope="module")
def project_port(daemon: Daemon) -> int:
    result = daemon.cli("ports", "assign", "faults")
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = [p for p in json.loads(daemon.cli("ports", "--json").stdout) if p["name"] == "faults"]
    return int(entry["port"])


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
    project = "faults" if target == "interceptor" else _project("hangup")
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


# --- answers that are no answer: an error in a 200, a body no parser takes ----------------------------------

ERROR_IN_A_200 = {
    "openai": b'{"error": {"message": "quota exhausted for org-7", "type": "insufficient_quota", "code": null}}',
    "anthropic": b'{"type": "error", "error": {"type": "overloaded_error", "message": "quota exhausted for org-7"}}',
}
PATHOLOGICAL = {
    "nested-50000": b'{"id": "x", "choices": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "huge-number": b'{"id": "x", "usage": {"prompt_tokens": 1' + b"0" * 100_000 + b"}}",
    "invalid-utf8": b'{"id": "x", "choices": [{"message": {"role": "assistant", "content": "\xff\xfe\xc3"}}]}',
}
BUG_ERROR_IN_A_200 = pytest.mark.regression(
    reason="BUG: the fast path passed an OpenAI upstream's 200 with an {'error': ...} body on as a 200 and an ok row "
    "(routes/chat.py _plain read it as an answer with no choices)",
    strict=True,
)
BUG_PATHOLOGICAL = pytest.mark.regression(
    reason="BUG: JSON nested 50,000 deep was a 500 'RecursionError', a traceback in the daemon log (fast path: "
    "passthrough.read_json caught ValueError only); a 100,000-digit number through LiteLLM a 400 'could not be "
    "translated' (map_exception took int()'s ValueError for a local failure)",
    strict=True,
)


def _answer_cases() -> list[Any]:
    return [
        pytest.param(pair, gateway, id=f"{pair_id(pair)}-{gateway}")
        for pair in PAIRS
        for gateway in ("daemon", "router_daemon")
    ]


@BUG_ERROR_IN_A_200
@pytest.mark.parametrize(("pair", "gateway"), _answer_cases())
def test_an_error_in_a_200_is_an_error_in_the_clients_dialect(
    request: pytest.FixtureRequest, fake: ObservingUpstream, pair: tuple[str, str], gateway: str
) -> None:
    daemon: Daemon = request.getfixturevalue(gateway)
    route, model = pair
    project = _project("error-200")
    fake.script(*[raw(ERROR_IN_A_200[model])] * (RETRIES + 1))  # the Router retries it; the fast path does not
    r = _post(daemon, route, model, project)
    row = _final_row(daemon, project)
    figure(f"error_in_a_200[{pair_id(pair)}-{gateway}]", status=r.status_code, row_status=row["status"])
    assert r.status_code == 502, r.text
    assert "quota exhausted for org-7" in (_error_message(route, r.json()) or ""), r.text
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert "quota exhausted for org-7" in row["error"]


@BUG_PATHOLOGICAL
@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
@pytest.mark.parametrize(("pair", "gateway"), _answer_cases())
def test_a_pathological_answer_is_a_502_with_a_row_and_no_traceback(
    request: pytest.FixtureRequest, fake: ObservingUpstream, pair: tuple[str, str], gateway: str, shape: str
) -> None:
    daemon: Daemon = request.getfixturevalue(gateway)
    route, model = pair
    project = _project("pathological")
    log = daemon.home / "daemon.log"
    seen = log.stat().st_size if log.exists() else 0
    fake.script(*[raw(PATHOLOGICAL[shape])] * (RETRIES + 1))  # the Router retries it; the fast path does not
    r = _post(daemon, route, model, project)
    row = _final_row(daemon, project)
    with log.open("rb") as f:
        f.seek(seen)
        written = f.read().decode(errors="replace")
    ours = [line for line in written.splitlines() if "Traceback" in line or "memproxy failed unexpectedly" in line]
    figure(f"pathological[{shape}-{pair_id(pair)}-{gateway}]", status=r.status_code, row_status=row["status"])
    assert r.status_code == 502, r.text[:300]
    assert _error_message(route, r.json()), r.text[:300]
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert not ours, written[-2000:]


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
    project = "faults" if target == "interceptor" else _project("terminal")
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
    project = _project("retry-after-long")
    fake.script(error(429, headers={"retry-after": "30"}), text("too late"))
    t0 = time.monotonic()
    try:
        r = _post(daemon, route, model, project, timeout=(RETRIES + 1) * TIMEOUT + 1)
        status: int | None = r.status_code
    except httpx.TimeoutException:
        status = None
    took = time.monotonic() - t0
    figure(f"retry_after_beyond_budget[{pair_id(pair)}]", attempts=len(fake.started), seconds=took, status=status)
    assert status in (429, 200)
    assert took < (RETRIES + 1) * TIMEOUT + 1
