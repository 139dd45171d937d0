"""The loop against the real fake upstream: every model call crosses a socket."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.config.settings import ToolExecution
from daemon.cost import Usage
from daemon.dialects import Dialect
from daemon.tools.loop import CallModel, router_caller, run_tool_loop
from daemon.tools.schemas import GET_DOCUMENT, SEARCH
from tests.support.memory import DictBackend
from tests.support.upstream import FakeUpstream, text, tool_call, tool_calls

SCOPE = "project:shop"
MEMORIES = {SCOPE: ["We deploy on Fridays after the standup."], "project:other": ["Other deploys on Mondays."]}
QUESTION = "When do we deploy?"
MODEL = {Dialect.OPENAI: "gpt-4o-mini", Dialect.ANTHROPIC: "claude-sonnet-4-5"}
PATH = {Dialect.OPENAI: "/v1/chat/completions", Dialect.ANTHROPIC: "/v1/messages"}
DIALECTS = [Dialect.OPENAI, Dialect.ANTHROPIC]
WEATHER = {
    Dialect.OPENAI: {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    Dialect.ANTHROPIC: {"name": "get_weather", "input_schema": {"type": "object"}},
}


def http_caller(upstream: FakeUpstream, dialect: Dialect, seen: list[dict[str, Any]] | None = None) -> CallModel:
    """What the lead's Router caller does, with plain httpx."""

    async def call(body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(upstream.url + PATH[dialect], json=body, headers={"x-api-key": "sk-test"})
        response.raise_for_status()
        payload: dict[str, Any] = response.json()
        if seen is not None:
            seen.append(payload)
        return payload

    return call


def request(dialect: Dialect, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL[dialect], "messages": [{"role": "user", "content": QUESTION}]}
    if dialect is Dialect.ANTHROPIC:
        body["max_tokens"] = 256
    return {**body, **extra}


def answer_text(dialect: Dialect, response: dict[str, Any]) -> str:
    if dialect is Dialect.ANTHROPIC:
        return "".join(b["text"] for b in response["content"] if b["type"] == "text")
    content: str = response["choices"][0]["message"]["content"]
    return content


def calls_of(dialect: Dialect, response: dict[str, Any]) -> list[tuple[str, Any]]:
    if dialect is Dialect.ANTHROPIC:
        return [(b["name"], b["input"]) for b in response["content"] if b["type"] == "tool_use"]
    message = response["choices"][0]["message"]
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls") or []]


def tool_results(dialect: Dialect, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results the upstream received in its latest turn, decoded."""
    if dialect is Dialect.ANTHROPIC:
        last = body["messages"][-1]
        assert last["role"] == "user"
        return [json.loads(b["content"]) for b in last["content"] if b["type"] == "tool_result"]
    return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]


async def loop(
    fake: FakeUpstream, dialect: Dialect, body: dict[str, Any], backend: DictBackend | None = None, **settings: Any
) -> Any:
    return await run_tool_loop(
        body,
        dialect,
        http_caller(fake, dialect),
        backend or DictBackend(MEMORIES),
        SCOPE,
        ToolExecution(enabled=True, **settings),
    )


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_search_then_answer(fake: FakeUpstream, dialect: Dialect) -> None:
    fake.script(
        tool_call(SEARCH, {"query": "deploy"}, usage={"input_tokens": 10, "output_tokens": 4, "cache_read_tokens": 2}),
        text("You deploy on Fridays", usage={"input_tokens": 30, "output_tokens": 5, "cache_write_tokens": 7}),
    )
    body = request(dialect, stream=True)
    result = await loop(fake, dialect, body)

    assert answer_text(dialect, result.response) == "You deploy on Fridays"
    assert (result.rounds, result.model_calls, result.tool_calls, result.outcome) == (1, 2, 1, "answer")
    if dialect is Dialect.ANTHROPIC:
        expected = Usage(input_tokens=40, output_tokens=9, cache_read_tokens=2, cache_write_tokens=7)
        assert result.usage == replace(expected, service_tier="standard")  # the tier each answer says it was served
    else:  # OpenAI reports cache writes as plain prompt tokens
        expected = Usage(input_tokens=47, output_tokens=9, cache_read_tokens=2, cache_write_tokens=0)
        assert result.usage == replace(expected, service_tier="default")
    assert body == request(dialect, stream=True)  # the client's body is not touched
    first, second = (r.body for r in fake.requests)
    assert first["stream"] is False and second["stream"] is False
    assert {SEARCH, GET_DOCUMENT} <= {t.get("name") or t["function"]["name"] for t in first["tools"]}
    # the second turn carries the model's call and the memory the search found
    [found] = tool_results(dialect, second)
    assert [m["text"] for m in found["results"]] == ["We deploy on Fridays after the standup."]
    assert "Mondays" not in json.dumps(second)
    assistant = second["messages"][1]
    assert assistant["role"] == "assistant" and second["messages"][0]["content"] == QUESTION
    if dialect is Dialect.ANTHROPIC:
        [use] = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert second["messages"][2]["content"][0]["tool_use_id"] == use["id"]
    else:
        assert second["messages"][2]["tool_call_id"] == assistant["tool_calls"][0]["id"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_model_that_never_stops_ends_after_max_iterations(fake: FakeUpstream, dialect: Dialect) -> None:
    fake.default = tool_call(SEARCH, {"query": "deploy"})
    try:
        result = await loop(fake, dialect, request(dialect), max_iterations=3)
    finally:
        fake.default = text()
    assert (result.rounds, result.model_calls, result.outcome) == (3, 4, "max_iterations")
    assert len(fake.requests) == 4
    assert "memproxy stopped the memory tool loop after 3 rounds" in answer_text(dialect, result.response)
    assert calls_of(dialect, result.response) == []
    if dialect is Dialect.ANTHROPIC:
        assert result.response["stop_reason"] == "end_turn"
    else:
        assert result.response["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_client_tool_call_goes_back_unchanged(fake: FakeUpstream, dialect: Dialect) -> None:
    fake.script(tool_call("get_weather", {"city": "Paris"}))
    seen: list[dict[str, Any]] = []
    backend = DictBackend(MEMORIES)
    result = await run_tool_loop(
        request(dialect, tools=[WEATHER[dialect]]),
        dialect,
        http_caller(fake, dialect, seen),
        backend,
        SCOPE,
        ToolExecution(enabled=True),
    )
    assert result.response is seen[0]
    assert (result.rounds, result.outcome) == (0, "client_tools")
    assert calls_of(dialect, result.response) == [("get_weather", {"city": "Paris"})]
    assert len(fake.requests) == 1 and backend.calls == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_mixed_round_returns_the_clients_calls_without_ours(fake: FakeUpstream, dialect: Dialect) -> None:
    fake.script(tool_calls([(SEARCH, {"query": "deploy"}), ("get_weather", {"city": "Paris"})], text="Let me check."))
    backend = DictBackend(MEMORIES)
    result = await loop(fake, dialect, request(dialect, tools=[WEATHER[dialect]]), backend)
    assert calls_of(dialect, result.response) == [("get_weather", {"city": "Paris"})]
    assert answer_text(dialect, result.response) == "Let me check."
    if dialect is Dialect.ANTHROPIC:
        assert result.response["stop_reason"] == "tool_use"
    else:
        assert result.response["choices"][0]["finish_reason"] == "tool_calls"
    assert (result.rounds, result.outcome) == (0, "client_tools")
    assert len(fake.requests) == 1 and backend.calls == []


async def test_a_client_tool_named_like_ours_is_the_clients(fake: FakeUpstream) -> None:
    own = {"name": SEARCH, "input_schema": {"type": "object"}}
    fake.script(tool_call(SEARCH, {"query": "deploy"}))
    backend = DictBackend(MEMORIES)
    result = await loop(fake, Dialect.ANTHROPIC, request(Dialect.ANTHROPIC, tools=[own]), backend)
    assert calls_of(Dialect.ANTHROPIC, result.response) == [(SEARCH, {"query": "deploy"})]
    assert backend.calls == []
    assert [t["name"] for t in fake.last().body["tools"]] == [SEARCH, GET_DOCUMENT]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_bad_calls_become_results_the_model_reads_and_the_request_completes(
    fake: FakeUpstream, dialect: Dialect
) -> None:
    fake.script(
        tool_calls(
            [
                (SEARCH, {}),
                (GET_DOCUMENT, {"id": "no-such-id"}),
                ("supermemoryToolDelete", {"id": "m1"}),
                (SEARCH, {"query": "deploy"}),
            ]
        ),
        text("Sorry, memory is unavailable."),
    )
    result = await loop(fake, dialect, request(dialect), DictBackend(MEMORIES, fail=100, failing=("search",)))
    assert answer_text(dialect, result.response) == "Sorry, memory is unavailable."
    errors = [r["error"] for r in tool_results(dialect, fake.last().body)]
    assert [e["type"] for e in errors] == ["invalid_arguments", "not_found", "unknown_tool", "backend_error"]
    assert [e["retryable"] for e in errors] == [False, False, False, True]
    if dialect is Dialect.ANTHROPIC:
        assert all(b["is_error"] for b in fake.last().body["messages"][-1]["content"])


async def test_arguments_that_are_not_json_become_an_error_result(fake: FakeUpstream) -> None:
    fake.script(tool_call(SEARCH, {"query": "deploy"}), text("ok"))
    plain = http_caller(fake, Dialect.OPENAI)

    async def broken_json(body: dict[str, Any]) -> dict[str, Any]:
        response = await plain(body)
        for call in response["choices"][0]["message"].get("tool_calls") or []:
            call["function"]["arguments"] = '{"query": "deploy"'  # a model cut off mid-arguments
        return response

    result = await run_tool_loop(
        request(Dialect.OPENAI), Dialect.OPENAI, broken_json, DictBackend(MEMORIES), SCOPE, ToolExecution()
    )
    assert answer_text(Dialect.OPENAI, result.response) == "ok"
    [error] = tool_results(Dialect.OPENAI, fake.last().body)
    assert error["error"]["type"] == "invalid_arguments" and "not valid JSON" in error["error"]["message"]
    # the assistant turn is sent back as the model wrote it
    assert fake.last().body["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"query": "deploy"'


async def test_calls_of_one_round_run_concurrently(fake: FakeUpstream) -> None:
    fake.script(tool_calls([(SEARCH, {"query": "deploy"}), (GET_DOCUMENT, {"id": "m1"})]), text("ok"))
    backend = DictBackend(MEMORIES, delay=0.2)
    plain = http_caller(fake, Dialect.OPENAI)
    result = await run_tool_loop(request(Dialect.OPENAI), Dialect.OPENAI, plain, backend, SCOPE, ToolExecution())
    assert result.tool_calls == 2 and answer_text(Dialect.OPENAI, result.response) == "ok"
    assert len(backend.calls) == 2
    assert backend.most_in_flight == 2, "the round's two calls ran one after the other"


async def test_a_debug_line_per_call_and_per_round(fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    fake.script(tool_calls([(SEARCH, {"query": "deploy"}), (GET_DOCUMENT, {"id": "zz"})]), text("ok"))
    with caplog.at_level(logging.DEBUG, logger="memproxy.tools"):
        await loop(fake, Dialect.OPENAI, request(Dialect.OPENAI))
    lines = [r.getMessage() for r in caplog.records if r.name == "memproxy.tools"]
    search, get, summary = lines
    assert search.startswith('tool round=1 tool=supermemoryToolSearch arguments={"query": "deploy"} duration_ms=')
    assert "result_chars=" in search and search.endswith("error=-")
    assert get.endswith("error=not_found")
    assert summary.startswith("tool round=1 calls=2 duration_ms=")


async def test_with_the_local_sqlite_backend(fake: FakeUpstream, tmp_path: Path) -> None:
    local = pytest.importorskip("daemon.memory.local")
    backend = local.LocalBackend(tmp_path / "memory.db")
    try:
        mine = await backend.add(SCOPE, "We deploy on Fridays after the standup.")
        await backend.add("project:other", "Other deploys on Fridays too.")
        fake.script(tool_call(SEARCH, {"query": "deploy Fridays"}), text("Fridays"))
        first = await run_tool_loop(
            request(Dialect.ANTHROPIC),
            Dialect.ANTHROPIC,
            http_caller(fake, Dialect.ANTHROPIC),
            backend,
            SCOPE,
            ToolExecution(),
        )
        [found] = tool_results(Dialect.ANTHROPIC, fake.last().body)
        assert [m["id"] for m in found["results"]] == [mine.id]
        assert first.rounds == 1
        fake.script(tool_call(GET_DOCUMENT, {"doc_id": mine.id}), text("Fridays"))
        await run_tool_loop(
            request(Dialect.ANTHROPIC),
            Dialect.ANTHROPIC,
            http_caller(fake, Dialect.ANTHROPIC),
            backend,
            SCOPE,
            ToolExecution(),
        )
        [document] = tool_results(Dialect.ANTHROPIC, fake.last().body)
        assert document["text"] == "We deploy on Fridays after the standup."
    finally:
        await backend.close()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_through_the_litellm_router(fake: FakeUpstream, dialect: Dialect) -> None:
    from daemon.gateway.llm import import_litellm

    import_litellm()
    from litellm import Router

    router = Router(
        model_list=[
            {
                "model_name": "gpt-*",
                "litellm_params": {"model": "openai/gpt-*", "api_base": fake.url + "/v1", "api_key": "sk-test"},
            },
            {
                "model_name": "claude-*",
                "litellm_params": {"model": "anthropic/claude-*", "api_base": fake.url, "api_key": "sk-test"},
            },
        ],
        num_retries=0,
    )
    fake.script(tool_call(SEARCH, {"query": "deploy"}), text("You deploy on Fridays"))
    result = await run_tool_loop(
        request(dialect, stream=True),
        dialect,
        router_caller(router, dialect, {"metadata": {"memproxy": True}} if dialect is Dialect.OPENAI else None),
        DictBackend(MEMORIES),
        SCOPE,
        ToolExecution(enabled=True),
    )
    assert answer_text(dialect, result.response) == "You deploy on Fridays"
    assert result.rounds == 1 and result.usage.output_tokens > 0
    [found] = tool_results(dialect, fake.last(PATH[dialect]).body)
    assert found["results"][0]["text"] == "We deploy on Fridays after the standup."
    assert fake.last(PATH[dialect]).body.get("stream") in (False, None)
