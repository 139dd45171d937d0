"""`POST /v1/messages/count_tokens` asks each provider's own counter with the request as Claude Code
sends it (tool calls and tool results included), and never asks a server that has no counter.
Through the gateway, LiteLLM for real, the fake upstreams as OpenAI, Anthropic and a local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import ANTHROPIC_KEY, OPENAI_KEY, gateway_config, with_local_server
from tests.support.upstream import FakeUpstream, LocalUpstream
from tests.support.upstream.rendering.planning import input_words

TOOL_RESULT = "def main(): print('the tool result text')"
# Claude Code's shape: a tool round, tools, a system prompt in blocks
BODY: dict[str, Any] = {
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}}],
    "messages": [
        {"role": "user", "content": "what does src/app.py print?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "src/app.py"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": TOOL_RESULT}]},
    ],
}


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("count-tokens"), config)


def _count(served: Served, model: str) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01", "x-memproxy-project": "count-tokens"}
    return httpx.post(f"{served.url}/v1/messages/count_tokens", json={**BODY, "model": model}, headers=headers)


def test_openais_counter_is_asked_with_the_tool_round(served: Served, fake: FakeUpstream) -> None:
    """OpenAI's `/v1/responses/input_tokens` gets the tool call and its result as Responses items;
    they reached it as an empty message before, so Claude Code on a GPT model was told too few."""
    r = _count(served, "gpt-4o")
    assert r.status_code == 200, r.text
    asked = fake.last("/v1/responses/input_tokens")
    assert asked.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    items = {item.get("type"): item for item in asked.body["input"]}
    assert items["function_call_output"]["output"] == TOOL_RESULT, asked.body
    assert items["function_call"]["name"] == "Read", asked.body
    assert "You are Claude Code." in str(asked.body)
    assert r.json() == {"input_tokens": input_words(asked.body)}  # the provider's count, as it said it


def test_anthropics_counter_gets_the_request_as_sent(served: Served, fake: FakeUpstream) -> None:
    r = _count(served, "claude-sonnet-4-5")
    assert r.status_code == 200, r.text
    asked = fake.last("/v1/messages/count_tokens")
    assert asked.headers["x-api-key"] == ANTHROPIC_KEY
    assert asked.body["messages"] == BODY["messages"] and asked.body["system"][0]["text"] == "You are Claude Code."
    assert r.json() == {"input_tokens": input_words(asked.body)}


def test_a_chat_only_server_is_never_asked_to_count(served: Served, local_upstream: LocalUpstream) -> None:
    """A local server has no counting API: tokens are counted here, tool result included, and the
    server is not sent the prompt to answer 404 (LiteLLM logged an error for each count)."""
    r = _count(served, "local-llama")
    assert r.status_code == 200, r.text
    assert local_upstream.requests == []
    without = {**BODY, "model": "local-llama", "messages": BODY["messages"][:2]}
    fewer = httpx.post(
        f"{served.url}/v1/messages/count_tokens", json=without, headers={"anthropic-version": "2023-06-01"}
    )
    assert 0 < fewer.json()["input_tokens"] < r.json()["input_tokens"]  # the tool result is counted
