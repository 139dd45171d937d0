"""`freeing.Freer`: a big body is freed off the event loop, in steps, and only once nothing else holds it.

Probes inside the body note, as they are freed, which thread freed them and how many times the event
loop had run by then: one C deallocation cascade (on the loop or in a thread) frees every probe at the
same loop tick; freeing in steps lets the loop run between them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from daemon.gateway.freeing import Freer


class Probe:
    """Notes the thread and the loop tick at which it is freed."""

    def __init__(self, deaths: list[tuple[int, int]], ticks: list[int]) -> None:
        self.deaths, self.ticks = deaths, ticks

    def __del__(self) -> None:
        self.deaths.append((threading.get_ident(), self.ticks[0]))


def _tools(n: int, probes: int, deaths: list[tuple[int, int]], ticks: list[int]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"a": {"type": "string", "description": "the thing to do"}}}
    tools: list[Any] = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": "does a thing", "parameters": schema}}
        for i in range(n)
    ]
    for i in range(0, n, n // probes):
        tools[i]["function"]["probe"] = Probe(deaths, ticks)
    return {"model": "gpt-4o", "messages": [], "tools": tools}


async def _until(done: Any, seconds: float = 60.0) -> None:
    """Let the loop run (ticking) until `done()`; a generous bound, not a timing assert."""
    async with asyncio.timeout(seconds):
        while not done():
            await asyncio.sleep(0.005)


async def _ticking(ticks: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        ticks[0] += 1
        await asyncio.sleep(0)


async def test_a_big_body_is_freed_off_the_loop_in_steps_the_loop_running_between() -> None:
    deaths: list[tuple[int, int]] = []
    ticks = [0]
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticking(ticks, stop))
    freer = Freer()
    body = _tools(100_000, 100, deaths, ticks)
    freer.hold(body)
    del body  # the request's last reference goes on the loop: the freer's is the one left
    await _until(lambda: len(deaths) == 100)
    stop.set()
    await ticker
    loop_thread = threading.get_ident()
    assert {thread for thread, _ in deaths} == {freer._thread.ident if freer._thread else -1} != {loop_thread}
    # before: `del body` on the loop freed all 100 probes in one cascade, at one tick
    assert len({tick for _, tick in deaths}) > 10
    assert freer.freed == 1


async def test_nothing_is_freed_while_something_else_holds_it() -> None:
    deaths: list[tuple[int, int]] = []
    ticks = [0]
    freer = Freer()
    body = _tools(1000, 10, deaths, ticks)
    tools = body["tools"]
    freer.hold(body)
    kept = {"tools": tools}  # as a kwargs copy LiteLLM keeps shares the tools list
    del body
    await _until(lambda: freer.freed >= 1)  # the body's own dict is taken apart ...
    await asyncio.sleep(0.1)
    assert len(tools) == 1000 and not deaths  # ... the shared list is left whole while it is held
    assert tools[0]["function"]["name"] == "tool_0"
    del kept, tools
    await _until(lambda: len(deaths) == 10)
    assert {thread for thread, _ in deaths} != {threading.get_ident()}


def test_values_that_hold_nothing_are_not_kept() -> None:
    freer = Freer()
    freer.hold("a long string" * 1000)
    freer.hold(12)
    assert freer._thread is None
