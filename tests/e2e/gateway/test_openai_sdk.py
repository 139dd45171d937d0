"""The OpenAI SDK through the real daemon: chat (plain, streamed, usage chunk), tool calls, a Claude model
in the OpenAI format (with its cache tokens priced), and /v1/models.

Every reply comes from the fake upstream *server* through LiteLLM; every check of the databank reads
`memproxy logs --json`, as a user would.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam

from tests.support.config import ANTHROPIC_KEY, OPENAI_KEY
from tests.support.daemon import Daemon
from tests.support.gateway_e2e import OPENAI_USER, USER, assert_ok_row, one_row, price
from tests.support.upstream import FakeUpstream, text, tool_call

pytestmark = pytest.mark.e2e


# --- OpenAI SDK ------------------------------------------------------------------------------------


def test_openai_chat(gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str, model_cost: Any) -> None:
    fake.script(text("Bonjour de Paris", usage={"input_tokens": 12, "output_tokens": 4}))
    reply = oai.chat.completions.create(model="gpt-4o", messages=OPENAI_USER)
    assert reply.choices[0].message.content == "Bonjour de Paris"
    assert reply.usage is not None and reply.usage.prompt_tokens == 12
    seen = fake.last("/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"  # the configured key, not the client's
    assert seen.body["messages"] == USER
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/chat/completions", "gpt-4o", False, 12, 4)
    assert row["provider"] == "openai"
    assert row["cost_usd"] == pytest.approx(price(model_cost, "gpt-4o", 12, 4), rel=1e-6)
    assert row["response_text"] == "Bonjour de Paris"


def test_openai_chat_stream(gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str) -> None:
    fake.script(text("one two three four five", usage={"input_tokens": 9, "output_tokens": 5}))
    stream = oai.chat.completions.create(model="gpt-4o", messages=OPENAI_USER, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 5  # chunk by chunk, not one blob
    assert "".join(pieces) == "one two three four five"
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/chat/completions", "gpt-4o", True, 9, 5)
    assert row["cost_usd"] > 0


def test_openai_stream_with_include_usage_gets_the_usage_chunk(
    gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI
) -> None:
    fake.script(text("a b", usage={"input_tokens": 3, "output_tokens": 2}))
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=OPENAI_USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usages = [c.usage for c in chunks if c.usage]
    assert usages and usages[-1].completion_tokens == 2


def test_openai_tool_call_round_trip(gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str) -> None:
    tools: list[ChatCompletionFunctionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    fake.script(tool_call("get_weather", {"city": "Paris"}, id="call_abc"), text("It is sunny in Paris"))
    first = oai.chat.completions.create(model="gpt-4o", messages=OPENAI_USER, tools=tools)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls and message.tool_calls[0].id == "call_abc"
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert fake.last("/v1/chat/completions").body["tools"][0]["function"]["name"] == "get_weather"

    history = [
        *USER,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"sky": "clear", "celsius": 21}'},
    ]
    final = oai.chat.completions.create(model="gpt-4o", messages=history, tools=tools)  # type: ignore[arg-type]
    assert final.choices[0].message.content == "It is sunny in Paris"
    sent = fake.last("/v1/chat/completions").body["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_abc", "content": '{"sky": "clear", "celsius": 21}'}
    assert sent[-2]["tool_calls"][0]["id"] == "call_abc"
    rows = gateway.project_rows(project, 2)
    assert [r["status"] for r in rows] == ["ok", "ok"]


def test_openai_stream_tool_call(gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI) -> None:
    fake.script(tool_call("lookup", {"q": "memproxy gateway"}, id="call_s1"))
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=OPENAI_USER,
        stream=True,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    args, ids, finish = "", [], None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            ids += [tc.id] if tc.id else []
            args += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert ids == ["call_s1"]
    assert json.loads(args) == {"q": "memproxy gateway"}
    assert finish == "tool_calls"


def test_openai_format_for_a_claude_model(
    gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str, model_cost: Any
) -> None:
    fake.script(text("Claude here", usage={"input_tokens": 20, "output_tokens": 2}))
    reply = oai.chat.completions.create(model="claude-sonnet-4-5", messages=OPENAI_USER, max_tokens=50)
    assert reply.choices[0].message.content == "Claude here"
    seen = fake.last()
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
    assert seen.body["model"] == "claude-sonnet-4-5"
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/chat/completions", "claude-sonnet-4-5", False, 20, 2)
    assert row["cost_usd"] == pytest.approx(price(model_cost, "claude-sonnet-4-5", 20, 2), rel=1e-6)


def test_openai_format_stream_for_a_claude_model(
    gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str
) -> None:
    fake.script(text("streamed from claude", usage={"input_tokens": 7, "output_tokens": 3}))
    stream = oai.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=OPENAI_USER,
        max_tokens=50,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed from claude"
    assert fake.last().path == "/v1/messages"
    assert_ok_row(one_row(gateway, project), "/v1/chat/completions", "claude-sonnet-4-5", True, 7, 3)


def test_openai_format_claude_cache_tokens_are_recorded(
    gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, project: str, model_cost: Any
) -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 1000, "cache_write_tokens": 200}
    fake.script(text("cached", usage=usage))
    oai.chat.completions.create(model="claude-sonnet-4-5", messages=OPENAI_USER, max_tokens=50)
    row = one_row(gateway, project)
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (1000, 200)
    expected = price(model_cost, "claude-sonnet-4-5", 10, 5, 1000, 200)
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_models_lists_the_configured_names(gateway: Daemon, oai: openai.OpenAI) -> None:
    assert {"gpt-4o", "claude-sonnet-4-5"} <= {m.id for m in oai.models.list()}
