"""Broken streams (cut, corrupt, truncated, stalled, malformed) end with an error event in the client's
dialect and an error row, through the fast path, LiteLLM's translation and its Router; the same for
the Responses API (Codex CLI), read by the OpenAI SDK."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.support.daemon import Daemon
from tests.support.faults import ANSWER, PAIRS, TIMEOUT, error_message, final_row, new_project, pair_id
from tests.support.hardening import MODELS, ROUTES, USER, figure
from tests.support.upstream import corrupt_stream, cut_stream, malformed_event, stall_mid_stream, text
from tests.support.upstream.observing import ObservingUpstream, truncated_stream
from tests.support.wire import sse_events

pytestmark = pytest.mark.e2e


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
    project = new_project(f"broken-{fault}")
    fake.script(FAULTS[fault]())
    body = {"model": MODELS[model], "messages": USER, "max_tokens": 20, "stream": True}
    raw = b""
    log = daemon.home / "daemon.log"
    seen = log.stat().st_size if log.exists() else 0
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
    errors = [error_message(route, data) for name, data in events if error_message(route, data)]
    if route == "anthropic":
        errors = [error_message(route, data) for name, data in events if name == "error"]
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
    row = final_row(daemon, project)
    figure(
        f"broken_stream[{fault}-{pair_id(pair)}]",
        seconds=took,
        error_events=len(errors),
        finished=finished,
        row_status=row["status"],
    )
    assert errors, f"no error event in the {route} dialect:\n{raw.decode(errors='replace')[-600:]}"
    assert events[-1][1] is not None and error_message(route, events[-1][1]), "the error event must come last"
    assert not finished, "a broken stream must not end like a finished one"
    assert text_seen != ANSWER
    assert row["status"] == "error", row
    assert row["error"]
    if fault != "stalled":
        assert row["http_status"] == 502, row  # the upstream's failure, never a 400 of the client's
    if fault == "stalled":
        assert took < TIMEOUT + 3, f"a stall mid-stream was not cut at the {TIMEOUT} s timeout"
    # an upstream's fault is no bug of memproxy's: no traceback (LiteLLM's Router let httpx's ReadError
    # and ReadTimeout through unwrapped, which map_exception logged as unexpected, whole)
    with log.open("rb") as f:
        f.seek(seen)
        written = f.read().decode(errors="replace")
    assert "Traceback" not in written, written[-3000:]


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
        f"{daemon.url}/v1/responses", json=body, headers={"x-memproxy-project": new_project("resp")}, timeout=30
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
    project = new_project(f"resp-{fault}")
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
    row = final_row(daemon, project)
    figure(f"broken_responses[{fault}-{MODELS[model]}]", events=len(seen), row_status=row["status"])
    assert (row["status"], row["http_status"]) == ("error", 502)
