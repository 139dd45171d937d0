"""`/v1/responses` to a deployment that has the Responses API: the fast path. The client's bytes go
upstream as they are, the provider's bytes come back as they are, and the row still has the usage, the
model and the text; an error the provider reports in its stream reaches the client as it sent it and
makes the row an error. A deployment that speaks only Chat Completions still goes through LiteLLM."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config, with_local_server
from tests.support.upstream import FakeUpstream, LocalUpstream
from tests.support.upstream.replies import raw, text


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("responses-fast-home"), config)


def _event(name: str, number: int, **data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, 'sequence_number': number, **data})}\n\n".encode()


def _usage(cached: int) -> dict[str, object]:
    return {
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 129,
    }


def test_a_stream_is_the_providers_bytes_and_the_row_has_its_usage(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    done = {"id": "resp_1", "model": "gpt-4o-2024-08-06", "status": "completed", "service_tier": "flex"}
    stream = (
        _event("response.created", 0, response={"id": "resp_1", "status": "in_progress"})
        + _event("response.output_text.delta", 1, item_id="m", output_index=0, content_index=0, delta="Hel")
        + _event("response.output_text.delta", 2, item_id="m", output_index=0, content_index=0, delta="lo")
        + _event("response.completed", 3, response={**done, "usage": _usage(100)})
    )
    fake.script(raw(stream, content_type="text/event-stream"))
    sent = b'{"model":"gpt-4o","input":"hi","stream":true,"store":false,"include":["reasoning.encrypted_content"]}'
    r = httpx.post(
        f"{served.url}/v1/responses",
        content=sent,
        headers={"content-type": "application/json", "x-memproxy-project": project},
        timeout=15,
    )
    assert r.status_code == 200 and r.content == stream
    assert fake.last("/v1/responses").raw == sent  # nothing re-serialised on the way up either
    (row,) = served.wait_final(project)
    assert row["status"] == "ok" and row["response_text"] == "Hello" and row["resolved_model"] == "gpt-4o-2024-08-06"
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (20, 100, 9)


@pytest.mark.parametrize(
    "failure",
    [
        _event("response.failed", 2, response={"id": "r", "status": "failed", "error": {"message": "overloaded"}}),
        _event("error", 2, code="server_error", message="overloaded"),
    ],
)
def test_an_error_the_provider_streams_reaches_the_client_and_makes_an_error_row(
    served: Served, fake: FakeUpstream, project: str, failure: bytes
) -> None:
    stream = (
        _event("response.created", 0, response={"id": "r", "status": "in_progress"})
        + _event("response.output_text.delta", 1, item_id="m", output_index=0, content_index=0, delta="Hi")
        + failure
    )
    fake.script(raw(stream, content_type="text/event-stream"))
    body = {"model": "gpt-4o", "input": "hi", "stream": True}
    r = httpx.post(f"{served.url}/v1/responses", json=body, headers={"x-memproxy-project": project}, timeout=15)
    assert r.content.startswith(stream)
    (row,) = served.wait_final(project)
    assert row["status"] == "error" and "overloaded" in row["error"]


def test_a_plain_answer_is_the_providers_bytes_and_the_row_has_its_text(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    fake.script(text("Plain answer", usage={"input_tokens": 7, "output_tokens": 2}))
    body = {"model": "gpt-4o", "input": "hi"}
    r = httpx.post(f"{served.url}/v1/responses", json=body, headers={"x-memproxy-project": project}, timeout=15)
    assert r.status_code == 200 and r.json()["output"][0]["content"][0]["text"] == "Plain answer"
    assert r.json()["id"].startswith("resp_") and "litellm" not in r.text  # no id re-encoded by LiteLLM
    (row,) = served.wait_final(project)
    assert row["status"] == "ok" and row["response_text"] == "Plain answer"
    assert (row["input_tokens"], row["output_tokens"]) == (7, 2)


def test_a_chat_only_server_still_gets_chat_completions(
    served: Served, local_upstream: LocalUpstream, project: str
) -> None:
    body = {"model": "local-qwen", "input": "hi", "stream": True}
    r = httpx.post(f"{served.url}/v1/responses", json=body, headers={"x-memproxy-project": project}, timeout=30)
    assert r.status_code == 200 and b"response.completed" in r.content
    assert local_upstream.last().path == "/v1/chat/completions"
    (row,) = served.wait_final(project)
    assert row["status"] == "ok"


def test_a_stream_that_stops_inside_an_event_still_ends_with_an_error_the_client_can_read(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    """The relay passes on whole events: a half event the upstream never finished is not glued to the
    error event after it (the OpenAI SDK then failed on JSON instead of reporting the error)."""
    whole = _event("response.created", 0, response={"id": "r", "status": "in_progress"})
    half = _event("response.output_text.delta", 1, item_id="m", output_index=0, content_index=0, delta="Hi")[:40]
    fake.script(raw(whole + half, content_type="text/event-stream"))
    client = openai.OpenAI(
        base_url=f"{served.url}/v1", api_key="sk-test", default_headers={"x-memproxy-project": project}, max_retries=0
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in client.responses.create(model="gpt-4o", input="hi", stream=True):
            pass
    assert "ended before response.completed" in str(caught.value)
    (row,) = served.wait_final(project)
    assert row["status"] == "error"


def test_a_response_id_litellm_handed_out_reaches_the_provider_as_its_own(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    """Responses ids memproxy returned through LiteLLM (before the fast path, or with the Router) are
    LiteLLM's encoding of the provider's id; sent back as `previous_response_id`, the provider must get
    its own id, which it knows (it answered 404 to LiteLLM's)."""
    litellms = b"litellm:custom_llm_provider:openai;model_id:abc;response_id:resp_42"
    encoded = "resp_" + base64.b64encode(litellms).decode()
    fake.script(text("again"), text("again"))
    for previous, sent in ((encoded, "resp_42"), ("resp_0123456789abcdef0123456789abcdef", None)):
        body = {"model": "gpt-4o", "input": "more", "previous_response_id": previous}
        r = httpx.post(f"{served.url}/v1/responses", json=body, headers={"x-memproxy-project": project}, timeout=15)
        assert r.status_code == 200, r.text
        assert fake.last("/v1/responses").body["previous_response_id"] == (sent or previous)
