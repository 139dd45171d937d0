"""The Anthropic SDK through the real daemon: messages (plain, streamed), tool use, thinking blocks,
cache_control and cache tokens priced, a GPT model in the Anthropic format, count_tokens.

Every reply comes from the fake upstream *server* through LiteLLM; every check of the databank reads
`memproxy logs --json`, as a user would.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from tests.support.config import ANTHROPIC_KEY, OPENAI_KEY
from tests.support.daemon import Daemon
from tests.support.gateway_e2e import CLAUDE_USER, USER, assert_ok_row, one_row, price
from tests.support.upstream import FakeUpstream, text, thinking, tool_call

pytestmark = pytest.mark.e2e


# --- Anthropic SDK ---------------------------------------------------------------------------------


def test_anthropic_messages(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, project: str, model_cost: Any
) -> None:
    fake.script(text("Hi from Claude", usage={"input_tokens": 15, "output_tokens": 3}))
    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CLAUDE_USER)
    assert message.content[0].type == "text" and message.content[0].text == "Hi from Claude"
    assert message.usage.input_tokens == 15
    seen = fake.last("/v1/messages")
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
    assert seen.body["messages"] == USER and seen.body["max_tokens"] == 100
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/messages", "claude-sonnet-4-5", False, 15, 3)
    assert row["provider"] == "anthropic"
    assert row["cost_usd"] == pytest.approx(price(model_cost, "claude-sonnet-4-5", 15, 3), rel=1e-6)
    assert row["response_text"] == "Hi from Claude"


def test_anthropic_response_carries_no_gateway_internals(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    fake.script(text("clean"))
    raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=10, messages=CLAUDE_USER)
    body = json.loads(raw.http_response.content)
    assert set(body) <= {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}, body


def test_anthropic_stream(gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, project: str) -> None:
    fake.script(text("streaming words arrive one by one", usage={"input_tokens": 8, "output_tokens": 6}))
    deltas = []
    with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=CLAUDE_USER) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) >= 6
    assert final.content[0].text == "streaming words arrive one by one"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 6
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/messages", "claude-sonnet-4-5", True, 8, 6)
    assert row["cost_usd"] > 0


def test_anthropic_tool_use_round_trip(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, project: str
) -> None:
    tools: list[anthropic.types.ToolParam] = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    fake.script(tool_call("get_weather", {"city": "Paris"}, id="toolu_01", text="Let me check."), text("Sunny, 21°C"))
    first = claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=CLAUDE_USER, tools=tools)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert (use.id, use.name, use.input) == ("toolu_01", "get_weather", {"city": "Paris"})
    assert fake.last("/v1/messages").body["tools"] == tools

    result = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "clear sky, 21 C"}
    history = [
        *USER,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [result]},
    ]
    final = claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=history, tools=tools)  # type: ignore[arg-type]
    assert final.content[0].text == "Sunny, 21°C"  # type: ignore[union-attr]
    sent = fake.last("/v1/messages").body["messages"]
    assert sent[-1] == {"role": "user", "content": [result]}
    assert sent[-2]["content"][-1]["type"] == "tool_use" and sent[-2]["content"][-1]["id"] == "toolu_01"
    assert [r["status"] for r in gateway.project_rows(project, 2)] == ["ok", "ok"]


def test_anthropic_stream_tool_use(gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    fake.script(tool_call("search", {"query": "gateway docs"}, id="toolu_s"))
    tools: list[anthropic.types.ToolParam] = [{"name": "search", "input_schema": {"type": "object"}}]
    with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=CLAUDE_USER, tools=tools) as s:
        final = s.get_final_message()
    use = final.content[0]
    assert use.type == "tool_use" and use.id == "toolu_s" and use.input == {"query": "gateway docs"}


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
def test_anthropic_thinking_is_preserved(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, streaming: bool
) -> None:
    fake.script(thinking("First I consider the sky.", "Answer: sunny", signature="sig-Zm9vYmFy"))
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "messages": USER,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    if streaming:
        with claude.messages.stream(**params) as stream:
            message = stream.get_final_message()
    else:
        message = claude.messages.create(**params)
    assert fake.last("/v1/messages").body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    block = message.content[0]
    assert block.type == "thinking"
    assert block.thinking == "First I consider the sky."
    assert block.signature == "sig-Zm9vYmFy"
    assert message.content[1].text == "Answer: sunny"  # type: ignore[union-attr]

    # The thinking block goes back in the next turn unchanged (Claude Code does this with tools).
    fake.script(text("ok"))
    claude.messages.create(
        **{
            **params,
            "messages": [
                *USER,
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
                {"role": "user", "content": "thanks"},
            ],
        }
    )
    sent = fake.last("/v1/messages").body["messages"][1]["content"][0]
    assert sent == {"type": "thinking", "thinking": "First I consider the sky.", "signature": "sig-Zm9vYmFy"}


def test_anthropic_cache_control_reaches_upstream(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a long document", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ],
        }
    ]
    claude.messages.create(model="claude-sonnet-4-5", max_tokens=10, system=system, messages=messages)  # type: ignore[arg-type]
    body = fake.last("/v1/messages").body
    assert body["system"] == system
    assert body["messages"] == messages


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
def test_anthropic_cache_tokens_are_priced(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, project: str, model_cost: Any, streaming: bool
) -> None:
    usage = {"input_tokens": 30, "output_tokens": 12, "cache_read_tokens": 5000, "cache_write_tokens": 1200}
    fake.script(text("cached answer", usage=usage))
    params: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": USER}
    if streaming:
        with claude.messages.stream(**params) as stream:
            stream.get_final_message()
    else:
        claude.messages.create(**params)
    row = one_row(gateway, project)
    assert (row["input_tokens"], row["output_tokens"]) == (30, 12)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (5000, 1200)
    entry = model_cost["claude-sonnet-4-5"]
    assert entry["cache_read_input_token_cost"] < entry["input_cost_per_token"]  # a cheaper rate is really used
    expected = price(model_cost, "claude-sonnet-4-5", 30, 12, 5000, 1200)
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
def test_anthropic_format_for_a_gpt_model(
    gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic, project: str, streaming: bool
) -> None:
    fake.script(text("GPT speaking Anthropic", usage={"input_tokens": 6, "output_tokens": 3}))
    params: dict[str, Any] = {"model": "gpt-4o", "max_tokens": 100, "messages": USER}
    if streaming:
        with claude.messages.stream(**params) as stream:
            message = stream.get_final_message()
    else:
        message = claude.messages.create(**params)
    assert message.content[0].text == "GPT speaking Anthropic"  # type: ignore[union-attr]
    seen = fake.last()
    assert seen.path in ("/v1/chat/completions", "/v1/responses")  # LiteLLM translated it to OpenAI
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    row = one_row(gateway, project)
    assert_ok_row(row, "/v1/messages", "gpt-4o", streaming, 6, 3)
    assert row["provider"] == "openai"
    assert row["cost_usd"] > 0


def test_anthropic_count_tokens(gateway: Daemon, fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "one two three four five six"}]
    counted = claude.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)  # type: ignore[arg-type]
    seen = fake.last("/v1/messages/count_tokens")
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
    assert counted.input_tokens == 6  # the fake counts words
    local = claude.messages.count_tokens(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert local.input_tokens > 0
