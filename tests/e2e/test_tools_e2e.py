"""Issue 5 end to end: the real daemon runs the memory tools the (fake) model calls, and loops.

`tool_execution: {enabled: true, max_iterations: 3}`; memories seeded with `memproxy memory add`;
the official SDKs, streaming and not; `tool_rounds` read back with `memproxy logs --json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.support.config import OPENAI_KEY
from tests.support.daemon import Daemon
from tests.support.projects import memories, remember, start
from tests.support.upstream import FakeUpstream, Recorded, text, tool_call

pytestmark = pytest.mark.e2e

MAX_ITERATIONS = 3
SEED = "Deploys go out on Fridays at 3pm"
FINAL = "You deploy on Fridays"
QUESTION: Any = [{"role": "user", "content": "When do I deploy?"}]
OUR_TOOLS = {"supermemoryToolSearch", "supermemoryToolGetDocument"}
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    extra = f"tool_execution:\n  enabled: true\n  max_iterations: {MAX_ITERATIONS}\n"
    daemon = start(tmp_path_factory.mktemp("tools-home"), upstream.url, extra)
    try:
        yield daemon
    finally:
        daemon.down()


def path_of(dialect: str) -> str:
    return "/v1/chat/completions" if dialect == "openai" else "/v1/messages"


def calls(fake: FakeUpstream, dialect: str) -> list[Recorded]:
    return [r for r in fake.requests if r.path == path_of(dialect)]


def send(
    gw: Daemon, project: str, dialect: str, stream: bool, tools: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Ask QUESTION with an official SDK; what the client got: text, tool calls, finish reason."""
    headers = {"x-memproxy-project": project}
    extra: dict[str, Any] = {"tools": tools} if tools else {}
    if dialect == "openai":
        with openai.OpenAI(
            base_url=f"{gw.url}/v1", api_key="x", default_headers=headers, max_retries=0, timeout=30
        ) as oai:
            if not stream:
                reply: Any = oai.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, **extra)
                message: Any = reply.choices[0].message
                found = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
                return {"text": message.content or "", "calls": found, "finish": reply.choices[0].finish_reason}
            chunks: list[Any] = list(
                oai.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True, **extra)
            )
            content, finish, ids, names, args = "", None, [], [], ""
            for chunk in chunks:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                content += delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
                for tc in delta.tool_calls or []:
                    ids += [tc.id] if tc.id else []
                    names += [tc.function.name] if tc.function and tc.function.name else []
                    args += (tc.function.arguments or "") if tc.function else ""
            found = [(ids[0], names[0], json.loads(args))] if ids else []
            return {"text": content, "calls": found, "finish": finish}
    with anthropic.Anthropic(
        base_url=gw.url, api_key="x", default_headers=headers, max_retries=0, timeout=30
    ) as claude:
        kwargs: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 200, "messages": QUESTION, **extra}
        if stream:
            with claude.messages.stream(**kwargs) as s:
                answer: Any = s.get_final_message()
        else:
            answer = claude.messages.create(**kwargs)
        texts = "".join(b.text for b in answer.content if b.type == "text")
        found = [(b.id, b.name, b.input) for b in answer.content if b.type == "tool_use"]
        return {"text": texts, "calls": found, "finish": answer.stop_reason}


def tool_results(request: Recorded, dialect: str) -> list[str]:
    """The tool results a request carries back to the model."""
    messages = request.body["messages"]
    if dialect == "openai":
        return [m["content"] for m in messages if m["role"] == "tool"]
    blocks = [b for m in messages if isinstance(m["content"], list) for b in m["content"]]
    return [json.dumps(b["content"]) for b in blocks if b.get("type") == "tool_result"]


def offered(request: Recorded) -> set[str]:
    return {t.get("name") or t["function"]["name"] for t in request.body.get("tools") or []}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_the_model_searches_memory_and_the_client_gets_only_the_answer(
    gw: Daemon, fake: FakeUpstream, project: str, dialect: str, stream: bool
) -> None:
    remember(gw, project, SEED)
    fake.script(tool_call("supermemoryToolSearch", {"query": "deploy"}), text(FINAL))
    got = send(gw, project, dialect, stream)
    assert got["text"] == FINAL and got["calls"] == [], got
    assert got["finish"] in ("stop", "end_turn")

    first, second = calls(fake, dialect)
    assert offered(first) >= OUR_TOOLS
    assert not first.body.get("stream")  # the loop runs upstream without streaming
    assert tool_results(first, dialect) == []
    results = tool_results(second, dialect)
    assert len(results) == 1 and SEED in results[0], second.body  # the search result, in the second turn
    rows = gw.project_rows(project)
    assert [(r["status"], r["stream"], r["tool_rounds"]) for r in rows] == [("ok", stream, 1)]
    assert rows[0]["response_text"] == FINAL


@pytest.mark.parametrize(("dialect", "stream"), [("openai", False), ("anthropic", True)])
def test_a_model_that_never_stops_calling_tools_ends_after_max_iterations(
    gw: Daemon, fake: FakeUpstream, project: str, dialect: str, stream: bool
) -> None:
    fake.script(*[tool_call("supermemoryToolSearch", {"query": f"round {i}"}) for i in range(MAX_ITERATIONS + 3)])
    got = send(gw, project, dialect, stream)
    assert got["calls"] == [] and got["finish"] in ("stop", "end_turn"), got
    assert "max_iterations" in got["text"], got  # says why it stopped
    assert len(calls(fake, dialect)) == MAX_ITERATIONS + 1  # 3 rounds run, the 4th ask ends it
    assert fake.pending == 2
    rows = gw.project_rows(project)
    assert [(r["status"], r["tool_rounds"]) for r in rows] == [("ok", MAX_ITERATIONS)]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_a_call_to_the_clients_own_tool_comes_back_unchanged(
    gw: Daemon, fake: FakeUpstream, project: str, dialect: str, stream: bool
) -> None:
    call_id = "call_weather_1" if dialect == "openai" else "toolu_weather_1"
    fake.script(tool_call("get_weather", {"city": "Paris", "unit": "C"}, id=call_id))
    tools = [WEATHER_OPENAI if dialect == "openai" else WEATHER_ANTHROPIC]
    got = send(gw, project, dialect, stream, tools)
    assert got["calls"] == [(call_id, "get_weather", {"city": "Paris", "unit": "C"})], got
    assert got["finish"] in ("tool_calls", "tool_use")
    [only] = calls(fake, dialect)
    assert offered(only) == {"get_weather"} | OUR_TOOLS
    rows = gw.project_rows(project)
    assert [(r["status"], r["tool_rounds"]) for r in rows] == [("ok", 0)]


CLIENT_KEY = "client-presented-key-0a9b8c7d6e"  # no key shape: only its value finds it
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_what_the_memory_tools_return_holds_no_key(gw: Daemon, fake: FakeUpstream, project: str, dialect: str) -> None:
    """A memory holding keys (added by hand, or stored before a key was known) reaches the model
    through the search tool and GetDocument with the keys redacted: the configured ones, the key the
    request presented, and key shapes."""
    remember(gw, project, f"{SEED}; deploy with {OPENAI_KEY}, {CLIENT_KEY} and {AWS_KEY}")
    (stored,) = [m for m in memories(gw, project) if SEED in m["text"]]
    fake.script(
        tool_call("supermemoryToolSearch", {"query": "deploy"}),
        tool_call("supermemoryToolGetDocument", {"document_id": stored["id"]}),
        text(FINAL),
    )
    headers = {"x-memproxy-project": project}
    if dialect == "openai":
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=CLIENT_KEY, default_headers=headers, max_retries=0) as oai:
            oai.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    else:
        with anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, default_headers=headers, max_retries=0) as cl:
            cl.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=QUESTION)
    last = calls(fake, dialect)[-1]
    results = tool_results(last, dialect)
    assert len(results) == 2 and all(SEED in r and "[redacted]" in r for r in results), results
    for secret in (OPENAI_KEY, CLIENT_KEY, AWS_KEY):
        assert not any(secret in r for r in results), (secret, results)
