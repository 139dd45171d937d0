"""A big request (`BIG_BODY_BYTES` or more) is validated and freed off the event loop (issue 16, item 9).

The gateway app runs in this test's loop (`httpx.ASGITransport`), the fake upstream is the real
server. The route is chat's own `Endpoint` with two observers: its validation notes the thread it ran
on, and the parsed body carries a probe (a `str` subclass, so it travels as a tool's description) that
notes the thread that frees it. Walking 100,000 tools (`check_tools`) and freeing them at the end of
the request each held the loop (0.024–0.13 s and 0.04–0.15 s, `benchmarks/big_request_lag.py`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from daemon.config.settings import load_settings
from daemon.gateway.body import BIG_BODY_BYTES
from daemon.gateway.pipeline import generate
from daemon.routes.chat import CHAT
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream


class Probe(str):
    """A string that notes which thread frees it (copies are itself: only the body's one counts)."""

    deaths: list[int]

    def __copy__(self) -> Probe:
        return self

    def __deepcopy__(self, memo: Any) -> Probe:
        return self

    def __del__(self) -> None:
        self.deaths.append(threading.get_ident())


class Observed:
    def __init__(self) -> None:
        self.validated_on: list[int] = []
        self.deaths: list[int] = []

    def endpoint(self) -> Any:
        def framed(request: Request, body: dict[str, Any]) -> dict[str, Any]:
            probe = Probe("does a thing")
            probe.deaths = self.deaths
            body["tools"][-1]["function"]["description"] = probe
            return body

        def validate(body: dict[str, Any]) -> str:
            self.validated_on.append(threading.get_ident())
            return CHAT.validate(body)

        return replace(CHAT, framed=framed, validate=validate)


@pytest.fixture
async def app(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[Any]:
    from daemon.app import create_app, start_gateway

    (tmp_path / "config.yaml").write_text(gateway_config(upstream.url, memory=False, timeout=30))
    settings = load_settings(env={"MEMPROXY_HOME": str(tmp_path)})
    gateway = start_gateway(settings)
    app = create_app(settings, gateway)
    try:
        yield app
    finally:
        if gateway.http is not None:
            await gateway.http.close()
        gateway.writer.close()


def _body(model: str, tools: int) -> bytes:
    made = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": "does a thing", "parameters": {}}}
        for i in range(tools)
    ]
    return json.dumps(
        {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": made}
    ).encode()


async def _send(app: Any, observed: Observed, raw: bytes) -> httpx.Response:
    endpoint = observed.endpoint()

    async def route(request: Request) -> Response:
        return await generate(request, endpoint)

    app.add_route("/observed/chat", route, methods=["POST"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8764", timeout=60) as client:
        return await client.post("/observed/chat", content=raw, headers={"content-type": "application/json"})


async def _until_freed(observed: Observed, seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):  # a generous bound: the freer looks every 10 ms
        while not observed.deaths:
            await asyncio.sleep(0.01)


@pytest.mark.regression(reason="BUG: 100,000 tools were validated and freed on the event loop (0.06-0.28 s held)")
# gpt-4o on chat takes the fast path (the client's bytes sent on); claude goes through LiteLLM, which
# keeps the request's kwargs (sharing the tools list) in its logging object past the call
@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5"])
async def test_a_big_body_is_validated_and_freed_off_the_loop(app: Any, model: str) -> None:
    observed = Observed()
    raw = _body(model, 3000)
    assert len(raw) >= BIG_BODY_BYTES
    answer = await _send(app, observed, raw)
    assert answer.status_code == 200, answer.text[:300]
    loop = threading.get_ident()
    assert len(observed.validated_on) == 1 and observed.validated_on[0] != loop
    del answer
    await _until_freed(observed)
    assert observed.deaths[0] != loop


async def test_a_small_body_is_still_validated_on_the_loop(app: Any) -> None:
    """A worker thread costs ~0.1 ms a hop: a small body's checks are cheaper than that."""
    observed = Observed()
    answer = await _send(app, observed, _body("gpt-4o", 3))
    assert answer.status_code == 200, answer.text[:300]
    assert observed.validated_on == [threading.get_ident()]
