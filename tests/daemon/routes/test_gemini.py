"""Gemini's generateContent and streamGenerateContent through the gateway, to any deployment.

The gateway runs in this process under uvicorn; the upstream is the fake *server*, reached through
LiteLLM for real: an Anthropic deployment and an OpenAI one through LiteLLM's adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.cost import Usage
from daemon.routes.gemini import GENERATE_PATH, STREAM_PATH, usage_from_gemini
from tests.support.app import Served, serve_gateway
from tests.support.config import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY, gateway_config, with_gemini
from tests.support.memory import wait_stored
from tests.support.upstream import FakeUpstream, Recorded, cut_stream, error, text, tool_call

ASKED = {
    "contents": [{"role": "user", "parts": [{"text": "say hello to gemini"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "generationConfig": {"temperature": 0.2, "maxOutputTokens": 50},
}
# (model, the upstream path it reaches, the key the upstream gets): Gemini natively, the others
# through LiteLLM's adapter
DEPLOYMENTS = [
    ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:", GEMINI_KEY),
    ("claude-sonnet-4-5", "/v1/messages", ANTHROPIC_KEY),
    ("gpt-4o", "/v1/chat/completions", OPENAI_KEY),
]


def _config(upstream_url: str, **options: Any) -> str:
    return with_gemini(gateway_config(upstream_url, **options), upstream_url)


def _seen(fake: FakeUpstream, path: str) -> Recorded:
    """The last request the fake got on `path` (a prefix for the Gemini API's model:action paths)."""
    return next(r for r in reversed(fake.requests) if r.path.startswith(path))


def _key_seen(request: Recorded) -> str | None:
    auth = request.headers.get("authorization", "")
    return request.headers.get("x-goog-api-key") or request.headers.get("x-api-key") or auth.removeprefix("Bearer ")


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("gemini-home"), _config(upstream.url, timeout=5))


def _post(served: Served, model: str, action: str, project: str, body: Any = ASKED, **headers: str) -> httpx.Response:
    url = f"{served.url}/v1beta/models/{model}:{action}"
    return httpx.post(url, json=body, headers={"x-memproxy-project": project, **headers}, timeout=15)


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    lines = [line for line in response.text.splitlines() if line.strip()]
    assert all(line.startswith("data: ") for line in lines), response.text
    return [json.loads(line[6:]) for line in lines]


def _text(chunk: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for c in chunk.get("candidates", []) for p in c["content"]["parts"])


@pytest.mark.parametrize(("model", "upstream_path", "key"), DEPLOYMENTS)
def test_generate_content_answers_in_gemini_shape_with_a_row(
    served: Served, fake: FakeUpstream, project: str, model: str, upstream_path: str, key: str
) -> None:
    fake.script(text("Hello from the fake upstream", usage={"input_tokens": 12, "output_tokens": 5}))
    r = _post(served, model, "generateContent", project, **{"x-goog-api-key": "memproxy"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert _text(answer) == "Hello from the fake upstream"
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"]["promptTokenCount"] == 12
    assert not [k for k in answer if k.startswith("_")]
    seen = _seen(fake, upstream_path)
    assert seen.body.get("model", model) == model and not seen.body.get("stream")
    assert seen.path.endswith((":generateContent", "/messages", "/completions"))
    assert "be brief" in json.dumps(seen.body) and "say hello to gemini" in json.dumps(seen.body)
    assert _key_seen(seen) == key
    (row,) = served.rows(project)
    assert (row["endpoint"], row["model"], row["status"]) == (GENERATE_PATH, model, "ok")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 5)
    assert row["cost_usd"] and row["cost_usd"] > 0


@pytest.mark.parametrize(("model", "upstream_path", "key"), DEPLOYMENTS)
def test_stream_generate_content_relays_sse_chunks_with_a_row(
    served: Served, fake: FakeUpstream, project: str, model: str, upstream_path: str, key: str
) -> None:
    fake.script(text("Hello from the fake upstream", usage={"input_tokens": 9, "output_tokens": 5}))
    r = _post(served, model, "streamGenerateContent?alt=sse", project)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    chunks = _events(r)
    assert len(chunks) > 2
    assert "".join(_text(c) for c in chunks) == "Hello from the fake upstream"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    seen = _seen(fake, upstream_path)
    assert seen.body.get("stream", True) is True and seen.path.endswith(("streamGenerateContent", "s"))
    assert _key_seen(seen) == key
    (row,) = served.wait_final(project)
    assert (row["endpoint"], row["model"], row["status"]) == (STREAM_PATH, model, "ok")
    assert (row["input_tokens"], row["output_tokens"]) == (9, 5)
    assert row["ttft_ms"] is not None


@pytest.mark.parametrize(("model", "upstream_path", "key"), DEPLOYMENTS)
def test_a_cut_stream_ends_with_googles_error_object_not_a_finish(
    served: Served, fake: FakeUpstream, project: str, model: str, upstream_path: str, key: str
) -> None:
    """LiteLLM's adapter ends a cut chat stream with finishReason STOP; the client must see an error."""
    fake.script(cut_stream(2, text("one two three four five six")))
    r = _post(served, model, "streamGenerateContent?alt=sse", project)
    assert r.status_code == 200
    last = r.text.strip().splitlines()[-1]
    assert not last.startswith("data: "), r.text  # the google-genai SDK raises on a bare error object
    problem = json.loads(last)["error"]
    assert problem["code"] >= 500 and problem["status"] in ("UNAVAILABLE", "INTERNAL") and problem["message"]
    (row,) = served.wait_final(project)
    assert row["status"] == "error"


def test_errors_in_googles_shape(served: Served, fake: FakeUpstream, project: str) -> None:
    r = _post(served, "nope-model", "generateContent", project)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND" and r.json()["error"]["code"] == 404
    r = _post(served, "gpt-4o", "generateContent", project, body={"contents": []})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = _post(served, "gpt-4o", "generateContent", project, body={**ASKED, "api_base": "http://evil"})
    assert r.status_code == 400 and "api_base" in r.json()["error"]["message"]
    fake.script(error(429, "slow down"))
    r = _post(served, "claude-sonnet-4-5", "generateContent", project)
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert len(fake.requests) == 1  # nothing reached the upstream but the last one


def _upstream_auth(fake: FakeUpstream) -> str | None:
    return fake.last().headers.get("authorization")


@pytest.mark.parametrize("client_key", ["AIza-client-own-key-5b1c7e0d9f", "memproxy"])
def test_gemini_keys_are_treated_like_other_clients_keys(
    served: Served, fake: FakeUpstream, project: str, client_key: str
) -> None:
    """`x-goog-api-key` and `?key=` reach a keyless deployment (byok-*) exactly as `x-api-key` does
    on /v1/responses (also through LiteLLM, never the fast path), the placeholder included; neither
    reaches a row."""
    asked = {"model": "byok-model", "input": "hi"}
    fake.script(text("ok"), text("ok"), text("ok"))
    r = httpx.post(f"{served.url}/v1/responses", json=asked, headers={"x-api-key": client_key}, timeout=15)
    expected = (r.status_code, _upstream_auth(fake) if r.status_code == 200 else None)
    fake.clear()
    r = _post(served, "byok-model", "generateContent", project, **{"x-goog-api-key": client_key})
    assert (r.status_code, _upstream_auth(fake) if r.status_code == 200 else None) == expected, r.text
    fake.clear()
    r = _post(served, "byok-model", f"generateContent?key={client_key}", project)
    assert (r.status_code, _upstream_auth(fake) if r.status_code == 200 else None) == expected, r.text
    assert client_key not in json.dumps(served.rows(project))


def test_a_key_in_the_url_is_redacted_from_the_answer(served: Served, fake: FakeUpstream, project: str) -> None:
    url_key = "AIza-in-the-url-77e2c41a0b"
    fake.script(error(400, f"API key {url_key} is not valid"))
    r = _post(served, "claude-sonnet-4-5", f"generateContent?alt=json&key={url_key}", project)
    assert r.status_code == 400 and "is not valid" in r.text and url_key not in r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fake.last().query == "", "the client's query string reached the upstream"


@pytest.fixture(scope="module")
def remembering(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    system = "context_retrieval:\n  enabled: true\n  injection_strategy: system\n"
    yield from serve_gateway(tmp_path_factory.mktemp("gemini-memory"), _config(upstream.url, extra=system))


def test_what_gemini_was_told_is_recalled_into_the_next_request(
    remembering: Served, fake: FakeUpstream, project: str
) -> None:
    """A streamed answer is captured with its question (read from `contents`), and the next request
    on the project gets it in `systemInstruction` (an Anthropic deployment: in `system`)."""
    told = {"contents": [{"role": "user", "parts": [{"text": "remember that I deploy on Fridays"}]}]}
    fake.script(text("Noted: you deploy on Fridays"))
    r = _post(remembering, "claude-sonnet-4-5", "streamGenerateContent?alt=sse", project, body=told)
    assert r.status_code == 200 and "Noted" in r.text
    # gemini-cli's shape: a system instruction of its own, which LiteLLM's adapter reads one part of
    asked = {
        "contents": [{"role": "user", "parts": [{"text": "when do I deploy?"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "You are an interactive CLI agent."}]},
    }
    wait_stored(remembering.home, project, lambda t: "Fridays" in t)
    fake.clear()
    r = _post(remembering, "claude-sonnet-4-5", "generateContent", project, body=asked)
    assert r.status_code == 200, r.text
    system = json.dumps(fake.last("/v1/messages").body.get("system"))
    assert "I deploy on Fridays" in system and "You are an interactive CLI agent." in system
    assert fake.last("/v1/messages").body["messages"][-1]["content"] in (
        "when do I deploy?",
        [{"type": "text", "text": "when do I deploy?"}],
    )
    assert max(row["memory_hits"] for row in remembering.rows(project)) >= 1


def test_usage_metadata_counts_cached_tokens_apart_and_thoughts_as_output() -> None:
    metadata = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 800,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 120,
        "totalTokenCount": 1170,
    }
    expected = Usage(input_tokens=200, output_tokens=170, cache_read_tokens=800, reasoning_tokens=120)
    assert usage_from_gemini(metadata) == expected
    assert usage_from_gemini(None) == Usage()


@pytest.mark.parametrize("action", ["generateContent", "streamGenerateContent?alt=sse"])
@pytest.mark.parametrize(("model", "upstream_path", "key"), DEPLOYMENTS)
def test_a_tool_call_comes_back_as_a_function_call(
    served: Served, fake: FakeUpstream, project: str, model: str, upstream_path: str, key: str, action: str
) -> None:
    """gemini-cli's tools go out as function declarations and the model's call comes back as a
    `functionCall` part, whichever provider serves the model."""
    declared = {"name": "list_directory", "description": "List a folder", "parameters": {"type": "object"}}
    asked = {**ASKED, "tools": [{"functionDeclarations": [declared]}]}
    fake.script(tool_call("list_directory", {"path": "/tmp"}))
    r = _post(served, model, action, project, body=asked)
    assert r.status_code == 200, r.text
    chunks = _events(r) if action.startswith("stream") else [r.json()]
    parts = [p for chunk in chunks for cand in chunk["candidates"] for p in cand["content"]["parts"]]
    calls = [{k: v for k, v in p["functionCall"].items() if k != "id"} for p in parts if "functionCall" in p]
    assert calls == [{"name": "list_directory", "args": {"path": "/tmp"}}], chunks
    assert "list_directory" in json.dumps(_seen(fake, upstream_path).body["tools"])
    (row,) = served.wait_final(project)
    assert row["status"] == "ok"
