"""Replayed streams, read back by the official SDKs' own stream parsers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from daemon.config.settings import ToolExecution
from daemon.dialects import Dialect
from daemon.routes.chat import replay_chat
from daemon.routes.messages import replay_messages
from daemon.tools.loop import run_tool_loop
from daemon.tools.schemas import SEARCH
from tests.support.memory import DictBackend
from tests.support.upstream import FakeUpstream, text, tool_call

CHAT = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking the weather.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}

USAGE = {"input_tokens": 30, "output_tokens": 11, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2}
MESSAGE = {
    "id": "msg_abc",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "The user wants the deploy day.", "signature": "c2lnbmF0dXJl"},
        {"type": "redacted_thinking", "data": "b3BhcXVl"},
        {"type": "text", "text": "You deploy on Fridays. ünïcödé"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": USAGE,
}


def collect(stream: AsyncIterator[bytes]) -> bytes:
    async def drain() -> bytes:
        return b"".join([chunk async for chunk in stream])

    return asyncio.run(drain())


def serving(body: bytes) -> httpx2.Client:
    """An httpx2 client (both SDKs are built on httpx2) that answers every request with `body` as an event stream."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def test_openai_sdk_accumulates_the_replay_into_the_same_completion() -> None:
    body = collect(replay_chat(CHAT, include_usage=True))
    assert body.endswith(b"data: [DONE]\n\n")
    client = openai.OpenAI(api_key="sk-test", base_url="http://test/v1", http_client=serving(body))
    with client.chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking the weather."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        ("call_1", "get_weather", '{"city": "Paris"}'),
        ("call_2", "get_time", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.id == "chatcmpl-abc" and final.usage is not None and final.usage.total_tokens == 19


def test_openai_replay_without_usage_and_plain_chunks() -> None:
    body = collect(replay_chat({**CHAT, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]}))
    events = [line[6:] for line in body.decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hi"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    client = openai.OpenAI(api_key="sk-test", base_url="http://test/v1", http_client=serving(body))
    streamed = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Hi"


def test_anthropic_sdk_accumulates_the_replay_into_the_same_message() -> None:
    body = collect(replay_messages(MESSAGE))
    names = [line.split(b"\n")[0] for line in body.split(b"\n\n") if line]
    assert names[0] == b"event: message_start" and names[-2:] == [b"event: message_delta", b"event: message_stop"]
    client = anthropic.Anthropic(api_key="sk-test", base_url="http://test", http_client=serving(body))
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        texts = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert texts == "You deploy on Fridays. ünïcödé"
    dumped = final.model_dump(exclude_none=True)
    assert dumped["content"] == MESSAGE["content"]
    assert {k: dumped[k] for k in ("id", "model", "role", "stop_reason")} == {
        k: MESSAGE[k] for k in ("id", "model", "role", "stop_reason")
    }
    assert {k: dumped["usage"][k] for k in USAGE} == USAGE


def test_streaming_clients_get_the_loops_final_answer(fake: FakeUpstream) -> None:
    """What a streaming client of each route sees: the loop runs unstreamed, the answer is replayed."""
    settings = ToolExecution(enabled=True)
    memories = {"project:shop": ["We deploy on Fridays."]}
    for dialect, path in ((Dialect.OPENAI, "/v1/chat/completions"), (Dialect.ANTHROPIC, "/v1/messages")):
        fake.script(tool_call(SEARCH, {"query": "deploy"}), text("You deploy on Fridays"))

        async def call(body: dict[str, Any], path: str = path) -> dict[str, Any]:
            async with httpx.AsyncClient() as client:
                response = await client.post(fake.url + path, json=body)
            payload: dict[str, Any] = response.json()
            return payload

        body = {"model": "m", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "When?"}]}
        result = asyncio.run(run_tool_loop(body, dialect, call, DictBackend(memories), "project:shop", settings))
        assert "We deploy on Fridays." in json.dumps(fake.last(path).body["messages"][-1])
        if dialect is Dialect.OPENAI:
            oa = openai.OpenAI(
                api_key="k", base_url="http://t/v1", http_client=serving(collect(replay_chat(result.response)))
            )
            chunks = oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "When?"}], stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You deploy on Fridays"
        else:
            an = anthropic.Anthropic(
                api_key="k", base_url="http://t", http_client=serving(collect(replay_messages(result.response)))
            )
            with an.messages.stream(model="m", max_tokens=50, messages=[{"role": "user", "content": "When?"}]) as s:
                assert s.get_final_message().content[0].text == "You deploy on Fridays"  # type: ignore[union-attr]
