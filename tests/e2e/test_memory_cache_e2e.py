"""Issue 15, Done-when 1, end to end: memory never costs a session its prompt cache, as billed.

Two real daemons (`memproxy up`), memory on and memory off, each with the project on a project port
(`memproxy ports assign`). A 20-turn Claude-Code-shaped session (24 tools, a system prompt marked
`cache_control`, the breakpoint on the last block of the conversation, a tool round per turn) goes
through the port with the official SDK, against the fake upstream billing prompt caching as the
provider does. The cache tokens are read back as billed: `memproxy logs --json`. With memory on,
the project holds notes about the session's topics and captures every answer, so without cache-stable
injection the block would change between the steps of a turn and every breakpoint after it would miss.
The same session goes in the OpenAI dialects too (automatic prefix caching, `cached_tokens`): Chat
Completions, and the Responses API as Codex sends it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import agent_session as shape
from tests.support.agent_session import SYSTEM, TURNS, answer, question
from tests.support.daemon import Daemon
from tests.support.projects import anthropic_at, assign, openai_at, remember, start_many, wait_memory
from tests.support.upstream import FakeUpstream, text, tool_call
from tests.support.upstream.caching import PromptCache

pytestmark = pytest.mark.e2e

NOTES = (
    "The staging database of the shop project is PostgreSQL 16 on port 5433",
    "Deploy of the shop project happens on Fridays after the release notes are written",
    "The flaky tests of the shop service are in tests/checkout and time out under load",
)


@pytest.fixture(scope="module")
def daemons(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, Daemon]]:
    specs = {
        "on": (tmp_path_factory.mktemp("cache-e2e-on"), upstream.url, ""),
        "off": (tmp_path_factory.mktemp("cache-e2e-off"), upstream.url, "context_retrieval:\n  enabled: false\n"),
    }
    started = start_many(specs)
    try:
        yield {True: started["on"], False: started["off"]}
    finally:
        for daemon in started.values():
            daemon.down()


def _wait_captured(daemon: Daemon, project: str, turn: int) -> None:
    """Memory on: wait until this turn's answer is a memory, so the next step could find it."""
    found = wait_memory(daemon, project, lambda m: answer(turn) in m["text"])
    assert any(answer(turn) in m["text"] for m in found), f"turn {turn} was not captured: {found}"


def _anthropic_session(daemon: Daemon, port: int, fake: FakeUpstream, project: str, memory: bool) -> None:
    client = anthropic_at(port)
    tools = shape.tools("anthropic")
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    messages: list[dict[str, Any]] = []

    def step(reply: Any) -> None:
        marked = [dict(m, content=[dict(b) for b in m["content"]]) for m in messages]
        marked[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}  # Claude Code's moving breakpoint
        fake.script(reply)
        request: dict[str, Any] = {"system": system, "tools": tools, "messages": marked}
        client.messages.create(model="claude-sonnet-4-5", max_tokens=256, **request)

    for turn in range(TURNS):
        call = {"type": "tool_use", "id": f"toolu_{turn}", "name": "tool_1", "input": {"path": f"src/{turn}.py"}}
        messages.append({"role": "user", "content": [{"type": "text", "text": question(turn)}]})
        step(tool_call("tool_1", {"path": f"src/{turn}.py"}, id=f"toolu_{turn}"))
        messages.append({"role": "assistant", "content": [call]})
        result = {"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": f"contents of file {turn}"}
        messages.append({"role": "user", "content": [result]})
        step(text(answer(turn)))
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer(turn)}]})
        if memory:
            _wait_captured(daemon, project, turn)


def _openai_session(daemon: Daemon, port: int, fake: FakeUpstream, project: str, memory: bool) -> None:
    client = openai_at(port)
    tools = shape.tools("openai")
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]

    def step(reply: Any) -> None:
        fake.script(reply)
        client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)  # type: ignore[arg-type]

    for turn in range(TURNS):
        messages.append({"role": "user", "content": question(turn)})
        step(tool_call("tool_1", {"path": f"src/{turn}.py"}, id=f"call_{turn}"))
        arguments = f'{{"path": "src/{turn}.py"}}'
        call = {"id": f"call_{turn}", "type": "function", "function": {"name": "tool_1", "arguments": arguments}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{turn}", "content": f"contents of file {turn}"})
        step(text(answer(turn)))
        messages.append({"role": "assistant", "content": answer(turn)})
        if memory:
            _wait_captured(daemon, project, turn)


def _codex_session(daemon: Daemon, port: int, fake: FakeUpstream, project: str, memory: bool) -> None:
    """The Responses API as Codex speaks it: `instructions`, the whole conversation in `input` each
    time (message, function_call and function_call_output items), streamed."""
    client = openai_at(port)
    tools = shape.tools("responses")
    items: list[dict[str, Any]] = []

    def step(reply: Any) -> None:
        fake.script(reply)
        request: dict[str, Any] = {"instructions": SYSTEM, "input": items, "tools": tools}
        with client.responses.create(model="gpt-5-codex", stream=True, **request) as events:
            for _event in events:
                pass

    for turn in range(TURNS):
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": question(turn)}]})
        step(tool_call("tool_1", {"path": f"src/{turn}.py"}, id=f"call_{turn}"))
        arguments = f'{{"path": "src/{turn}.py"}}'
        items.append({"type": "function_call", "call_id": f"call_{turn}", "name": "tool_1", "arguments": arguments})
        items.append({"type": "function_call_output", "call_id": f"call_{turn}", "output": f"contents of file {turn}"})
        step(text(answer(turn)))
        items.append(
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer(turn)}]}
        )
        if memory:
            _wait_captured(daemon, project, turn)


Session = Callable[[Daemon, int, FakeUpstream, str, bool], None]


def _cached(row: dict[str, Any], dialect: str) -> int:
    """What of a request's prompt the provider cached: Anthropic up to the last breakpoint (read and
    written), OpenAI the whole prompt in steps of 128 tokens."""
    read, write = int(row["cache_read_tokens"] or 0), int(row["cache_write_tokens"] or 0)
    if dialect == "anthropic":
        return read + write
    prompt = int(row["input_tokens"] or 0) + read + write
    return prompt - prompt % 128


def _misses(rows: list[dict[str, Any]], dialect: str) -> list[str]:
    """The requests that did not read back all that the request before them cached."""
    return [
        f"request {n + 1}: read {row['cache_read_tokens']} of the {_cached(before, dialect)} cached before it"
        for n, (before, row) in enumerate(itertools.pairwise(rows))
        if int(row["cache_read_tokens"] or 0) < _cached(before, dialect)
    ]


@pytest.mark.parametrize(
    "session", [_anthropic_session, _openai_session, _codex_session], ids=["anthropic", "openai", "responses"]
)
def test_memory_on_reads_the_cache_memory_off_reads(
    daemons: dict[bool, Daemon], fake: FakeUpstream, project: str, session: Session
) -> None:
    """Through a project port, as billed in the databank: memory on reads ≥ 99% of the cache tokens
    memory off reads over the session, every request reads back all that the one before it cached,
    and memory was really injected (the rows list memory ids)."""
    dialect = "anthropic" if session is _anthropic_session else "openai"
    read: dict[bool, int] = {}
    rows: dict[bool, list[dict[str, Any]]] = {}
    for memory in (False, True):
        daemon = daemons[memory]
        port = assign(daemon, project)
        if memory:
            remember(daemon, project, *NOTES)
        fake.prompt_cache = PromptCache()  # each session starts with a cold provider cache
        session(daemon, port, fake, project, memory)
        rows[memory] = daemon.project_rows(project, count=2 * TURNS)
        assert all(r["status"] == "ok" for r in rows[memory]), rows[memory]
        read[memory] = sum(r["cache_read_tokens"] or 0 for r in rows[memory])
    injected = [r for r in rows[True] if r.get("memory_ids")]
    assert len(injected) >= TURNS, f"memory was injected into {len(injected)} requests: the comparison means nothing"
    assert not any(r.get("memory_ids") for r in rows[False])
    assert read[False] > 0
    assert read[True] >= 0.99 * read[False], read
    assert not _misses(rows[False], dialect), "the session itself does not keep its cache"
    assert not _misses(rows[True], dialect)
