"""The row says what the client got: an upstream's error in a 200, a body no parser should take, and a
malformed event in a stream are errors for the client (in its dialect) and in the databank alike.

Each case runs with the fast path on (the provider's bytes relayed as they are) and off (LiteLLM's
Router parses the answer), against the real fake upstream, which sends exactly the bytes scripted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream, malformed_event, raw, text
from tests.support.wire import sse_events

USER = [{"role": "user", "content": "hi"}]
Case = tuple[str, str, dict[str, object]]  # (route, model, the JSON body's other fields)
# same dialect as the provider, so the fast path serves it when it is on
SAME_DIALECT: dict[str, Case] = {
    "chat<-gpt": ("/v1/chat/completions", "gpt-4o", {"messages": USER}),
    "messages<-claude": ("/v1/messages", "claude-sonnet-4-5", {"messages": USER, "max_tokens": 20}),
}
# translated by LiteLLM whatever the fast path says
TRANSLATED: dict[str, Case] = {
    "chat<-claude": ("/v1/chat/completions", "claude-sonnet-4-5", {"messages": USER}),
    "messages<-gpt": ("/v1/messages", "gpt-4o", {"messages": USER, "max_tokens": 20}),
    "responses<-gpt": ("/v1/responses", "gpt-4o", {"input": "hi"}),
    "responses<-claude": ("/v1/responses", "claude-sonnet-4-5", {"input": "hi"}),
}
CASES = {**SAME_DIALECT, **TRANSLATED}
OPENAI_ERROR = b'{"error": {"message": "quota exhausted for org-7", "type": "insufficient_quota", "code": null}}'
ANTHROPIC_ERROR = b'{"type": "error", "error": {"type": "overloaded_error", "message": "quota exhausted for org-7"}}'
DEEP = b'{"id": "x", "choices": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
PATHOLOGICAL = {
    "nested-50000": DEEP,
    "huge-number": b'{"id": "x", "usage": {"prompt_tokens": 1' + b"0" * 100_000 + b"}}",
    "invalid-utf8": b'{"id": "x", "choices": [{"message": {"role": "assistant", "content": "\xff\xfe\xc3"}}]}',
}


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "router"])
def served(request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path_factory: Any) -> Iterator[Served]:
    config = gateway_config(upstream.url, fast_path=request.param)
    yield from serve_gateway(tmp_path_factory.mktemp("row-says-home"), config)


def _error_message(route: str, payload: Any) -> str:
    assert isinstance(payload, dict), payload
    if route == "/v1/messages":
        assert payload.get("type") == "error", payload
    return str(payload["error"]["message"])


def _post(served: Served, case: str, project: str, **extra: Any) -> tuple[str, httpx.Response]:
    route, model, body = CASES[case]
    r = httpx.post(
        f"{served.url}{route}",
        json={"model": model, **body, **extra},
        headers={"x-memproxy-project": project},
        timeout=20,
    )
    return route, r


@pytest.mark.regression(reason="an upstream's 200 with an {'error': ...} body was passed on as a 200 and an ok row")
@pytest.mark.parametrize("case", list(CASES))
def test_an_error_body_in_a_200_is_an_error(served: Served, fake: FakeUpstream, project: str, case: str) -> None:
    fake.script(raw(ANTHROPIC_ERROR if case.endswith("claude") else OPENAI_ERROR))
    route, r = _post(served, case, project)
    assert r.status_code == 502, r.text
    assert "quota exhausted for org-7" in _error_message(route, r.json())
    (row,) = served.wait_final(project)
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert "quota exhausted for org-7" in row["error"]


@pytest.mark.regression(reason="an answer nested 50,000 deep was a 500 RecursionError, a traceback and no row")
@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
@pytest.mark.parametrize("case", list(CASES))
def test_a_pathological_answer_is_a_502_with_a_row_and_no_traceback(
    served: Served, fake: FakeUpstream, project: str, case: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(raw(PATHOLOGICAL[shape]))
    with caplog.at_level(logging.WARNING):
        route, r = _post(served, case, project)
    assert r.status_code == 502, r.text[:300]
    assert _error_message(route, r.json())
    (row,) = served.wait_final(project)
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert not _tracebacks(caplog)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks memproxy or its server logged (LiteLLM's own logging of what it failed to bill is its own)."""
    return [r.getMessage() for r in caplog.records if r.exc_info and not r.name.startswith("LiteLLM")]


@pytest.mark.parametrize("shape", ["nested-50000", "invalid-utf8"])
@pytest.mark.parametrize("case", list(SAME_DIALECT))
def test_a_pathological_stream_event_ends_the_stream_with_an_error(
    served: Served, fake: FakeUpstream, project: str, case: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = PATHOLOGICAL[shape]
    if case.startswith("messages"):
        body = b"event: content_block_delta\ndata: " + payload + b"\n\n"
    else:
        body = b"data: " + payload + b"\n\n"
    fake.script(raw(body, content_type="text/event-stream"))
    with caplog.at_level(logging.WARNING):
        route, r = _post(served, case, project, stream=True)
    assert r.status_code in (200, 502), r.text[:300]
    if r.status_code == 200:
        events = sse_events(r.content)
        assert events and _error_message(route, events[-1][1])
    (row,) = served.wait_final(project)
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert not _tracebacks(caplog)


ANSWER = "one two three four five six seven eight"


def _read_stream(served: Served, case: str, project: str) -> tuple[str, list[tuple[str | None, Any]]]:
    route, model, body = CASES[case]
    with httpx.stream(
        "POST",
        f"{served.url}{route}",
        json={"model": model, **body, "stream": True},
        headers={"x-memproxy-project": project},
        timeout=20,
    ) as r:
        assert r.status_code == 200
        return route, sse_events(r.read())


@pytest.mark.regression(
    reason="LiteLLM's stream iterators drop an event they cannot parse and go on: a translated stream with one "
    "malformed event reached the client complete-looking, words missing, and the row said ok"
)
@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_event_mid_stream_ends_it_with_an_error(
    served: Served, fake: FakeUpstream, project: str, case: str
) -> None:
    fake.script(malformed_event(3, text(ANSWER)))
    route, events = _read_stream(served, case, project)
    assert events, "no events at all"
    name, last = events[-1]
    if route == "/v1/responses":
        assert name == "error" or (isinstance(last, dict) and last.get("type") == "error"), events[-3:]
    else:
        assert _error_message(route, last), events[-3:]
    finished = {"/v1/chat/completions": "[DONE]", "/v1/messages": "message_stop", "/v1/responses": "response.completed"}
    assert not any(finished[route] in (n, d, d.get("type") if isinstance(d, dict) else None) for n, d in events)
    (row,) = served.wait_final(project)
    assert (row["status"], row["http_status"]) == ("error", 502), row


@pytest.mark.regression(
    reason="a stream answered with a 200 whose body is an {'error': ...} object (not SSE): the fast path read it "
    "as an SSE stream with no events and said only 'the upstream stream ended before the answer was complete'"
)
@pytest.mark.parametrize("case", list(CASES))
def test_an_error_body_in_a_200_to_a_stream_is_an_error(
    served: Served, fake: FakeUpstream, project: str, case: str
) -> None:
    """An error either way; the upstream's own words where memproxy reads the body itself (the fast path).
    LiteLLM reads such a body as SSE lines, finds no event and says the stream ended early."""
    fake.script(raw(ANTHROPIC_ERROR if case.endswith("claude") else OPENAI_ERROR))
    route, r = _post(served, case, project, stream=True)
    if r.status_code == 200:
        events = sse_events(r.content)
        assert events, r.text
        message = _error_message(route, events[-1][1])
    else:
        assert r.status_code == 502, r.text
        message = _error_message(route, r.json())
    (row,) = served.wait_final(project)
    assert (row["status"], row["http_status"]) == ("error", 502)
    fast = served.gateway.settings.general_settings.fast_path and case in SAME_DIALECT
    if fast:
        assert r.status_code == 502 and "quota exhausted for org-7" in message, message
        assert "quota exhausted for org-7" in row["error"]


def test_what_an_upstream_sends_after_done_changes_nothing(served: Served, fake: FakeUpstream, project: str) -> None:
    """The client has [DONE] and the row is ok: bytes the upstream sends after it are nobody's news.

    The fast path's relay only: LiteLLM's OpenAI stream fails on such a stream before its first chunk."""
    if not served.gateway.settings.general_settings.fast_path:
        pytest.skip("the fast path's relay")
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": []}
    done = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": "whole"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in done) + b"data: [DONE]\n\n"
    fake.script(raw(body + b"data: this is not json {{{\n\n", content_type="text/event-stream"))
    _, events = _read_stream(served, "chat<-gpt", project)
    assert events[-1][1] == "[DONE]", events[-3:]
    (row,) = served.wait_final(project)
    assert (row["status"], row["output_tokens"]) == ("ok", 1), row
