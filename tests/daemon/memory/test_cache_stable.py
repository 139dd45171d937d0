"""Memory never costs a session its prompt cache: a 20-turn agentic session reads (nearly) as many
cache tokens with memory on as with it off, through the gateway, against a fake that bills caching.

The session is Claude-Code-shaped: 24 tools, a system prompt with a breakpoint, a user turn then a
tool round per turn, the breakpoint on the last block of the last message (moving every step), and
memory capturing every answer (so without freezing, the block would change between the steps).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import agent_session as session_shape
from tests.support.agent_session import SYSTEM, TURNS, answer, question
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.memory import wait_stored
from tests.support.upstream import FakeUpstream, text, tool_call
from tests.support.upstream.caching import PromptCache


@pytest.fixture(scope="module")
def gateways(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, Served]]:
    on = serve_gateway(tmp_path_factory.mktemp("cache-on"), gateway_config(upstream.url, memory=True))
    off = serve_gateway(tmp_path_factory.mktemp("cache-off"), gateway_config(upstream.url, memory=False))
    served = {True: next(on), False: next(off)}
    yield served
    for gen in (on, off):
        with pytest.raises(StopIteration):
            next(gen)


def _wait_captured(served: Served, project: str, turn: int) -> None:
    """Memory on: wait until this turn's answer is a memory, so the next step could find it."""
    if served.gateway.settings.context_retrieval.enabled:
        wait_stored(served.home, project, lambda t: answer(turn) in t)


def _anthropic_session(served: Served, fake: FakeUpstream, project: str) -> dict[str, int]:
    tools, totals = session_shape.tools("anthropic"), {"read": 0, "write": 0, "input": 0}
    messages: list[dict[str, Any]] = []
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    headers = {"x-memproxy-project": project, "x-api-key": "memproxy", "anthropic-version": "2023-06-01"}
    previous: list[int] = []
    previous_steps: list[int] = []

    def step(reply: Any) -> dict[str, Any]:
        marked = [dict(m, content=[dict(b) for b in m["content"]]) for m in messages]
        marked[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        fake.script(reply)
        body = {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": system, "tools": tools, "messages": marked}
        r = httpx.post(f"{served.url}/v1/messages", json=body, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        totals["read"] += usage.get("cache_read_input_tokens") or 0
        totals["write"] += usage.get("cache_creation_input_tokens") or 0
        totals["input"] += usage["input_tokens"]
        read, write = usage.get("cache_read_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0
        if previous:  # everything the last request cached is read again: its prefix did not change
            assert read >= sum(previous), f"step {len(previous_steps)}: read {read} of {sum(previous)} cached"
        previous[:] = [read, write]
        previous_steps.append(read)
        return r.json()

    for turn in range(TURNS):
        messages.append({"role": "user", "content": [{"type": "text", "text": question(turn)}]})
        step(tool_call("tool_1", {"path": f"src/{turn}.py"}, id=f"toolu_{turn}"))
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{turn}", "name": "tool_1", "input": {"path": f"src/{turn}.py"}}
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": f"contents of file {turn}"}
                ],
            }
        )
        step(text(answer(turn)))
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer(turn)}]})
        _wait_captured(served, project, turn)
    return totals


def _openai_session(served: Served, fake: FakeUpstream, project: str) -> dict[str, int]:
    tools, totals = session_shape.tools("openai"), {"read": 0, "input": 0}
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    headers = {"x-memproxy-project": project, "authorization": "Bearer memproxy"}
    previous: list[int] = []

    def step(reply: Any) -> None:
        fake.script(reply)
        body = {"model": "gpt-4o", "tools": tools, "messages": messages}
        r = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        totals["read"] += (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        totals["input"] += usage["prompt_tokens"]
        read = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        if previous:  # the last request's prompt is read again, up to the cache's 128-token step
            assert read > previous[0] - 128, f"read {read} of the last prompt's {previous[0]} tokens"
        previous[:] = [usage["prompt_tokens"]]

    for turn in range(TURNS):
        messages.append({"role": "user", "content": question(turn)})
        step(tool_call("tool_1", {"path": f"src/{turn}.py"}, id=f"call_{turn}"))
        call = {
            "id": f"call_{turn}",
            "type": "function",
            "function": {"name": "tool_1", "arguments": f'{{"path": "src/{turn}.py"}}'},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{turn}", "content": f"contents of file {turn}"})
        step(text(answer(turn)))
        messages.append({"role": "assistant", "content": answer(turn)})
        _wait_captured(served, project, turn)
    return totals


@pytest.mark.parametrize("session", [_anthropic_session, _openai_session], ids=["anthropic", "openai"])
def test_memory_keeps_the_prompt_cache(
    gateways: dict[bool, Served], fake: FakeUpstream, project: str, session: Any
) -> None:
    """With memory on (and capturing every answer), every step reads all that the step before it
    cached, the session reads at least 99% of the cache tokens it reads with memory off, and memory
    was really injected."""
    totals = {}
    for memory in (False, True):
        fake.prompt_cache = PromptCache()
        fake.clear()
        totals[memory] = session(gateways[memory], fake, f"{project}-{memory}")
        if memory:
            injected = [r for r in fake.requests if "Relevant memories" in str(r.body)]
            assert len(injected) >= TURNS, "memory was never injected: the comparison means nothing"
    assert totals[False]["read"] > 0
    assert totals[True]["read"] >= 0.99 * totals[False]["read"], totals
