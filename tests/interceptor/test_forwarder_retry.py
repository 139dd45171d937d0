"""A kept-alive connection to the gateway that turns out dead: the forwarder re-sends the request once
on a fresh connection, only when nothing of the answer had come, over real sockets.

The "gateway" is a raw HTTP/1.1 server on loopback whose behaviour on a connection's second request is
scripted: it closes the connection without a byte (what the gateway's fd-pressure eviction or its
keep-alive timeout does just as the pool reuses the connection), or it starts the answer and cuts it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from interceptor import request_body
from interceptor.forwarder import make_forwarder, make_gateway_client
from tests.support.serving import serving

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi " * 50}]}
OK = b'{"ok": true}'


@dataclass
class ScriptedGateway:
    """Answers 200 on each connection's first request; `on_reuse` says what a later one gets:
    "close" (closed, nothing answered), "cut" (a head and half a body, then closed), "serve"."""

    on_reuse: str = "close"
    on_fresh: str = "serve"
    bodies: list[bytes] = field(default_factory=list)  # every request body received whole, in order
    connections: int = 0
    port: int = 0

    async def _read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readexactly(2)
            return body
        return b""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while (body := await self._read_request(reader)) is not None:
                self.bodies.append(body)
                action = self.on_fresh if served == 0 else self.on_reuse
                if action == "close":
                    break
                if action == "cut":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
                    await writer.drain()
                    break
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
                writer.write(b"content-length: %d\r\n\r\n%s" % (len(OK), OK))
                await writer.drain()
                served += 1
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def through_forwarder(gateway: ScriptedGateway) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The tool's base URL on a forwarder in front of `gateway`, and the tool (a new connection per request)."""
    async with (
        gateway.running() as url,
        make_gateway_client() as pooled,
        make_gateway_client(fresh=True) as fresh,
        serving(make_forwarder("shop", url, pooled, fresh=fresh)) as port,
        httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as tool,
    ):
        yield f"http://127.0.0.1:{port}", tool


async def _streamed(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 50):  # the tool's body comes in pieces, as it does from a real tool
        yield data[i : i + 50]
        await asyncio.sleep(0)


@pytest.mark.regression(reason="BUG: a request on a kept-alive connection the gateway had just closed was a 502")
@pytest.mark.parametrize("shape", ["json", "streamed", "get"])
async def test_a_request_on_a_dead_kept_alive_connection_is_sent_again_on_a_fresh_one(shape: str) -> None:
    gateway = ScriptedGateway(on_reuse="close")
    data = json.dumps(CHAT).encode()
    async with through_forwarder(gateway) as (base, tool):
        first = await tool.post(f"{base}/v1/chat/completions", content=data)
        if shape == "get":
            second = await tool.get(f"{base}/v1/models")
        else:
            content = _streamed(data) if shape == "streamed" else data
            second = await tool.post(f"{base}/v1/chat/completions", content=content)
    assert (first.status_code, first.content) == (200, OK)
    assert (second.status_code, second.content) == (200, OK), second.text
    expected = b"" if shape == "get" else data
    # the dead connection got the second request and dropped it; a fresh one got it whole again
    assert gateway.bodies == [data, expected, expected]
    assert gateway.connections == 2


async def test_an_answer_that_had_started_is_never_sent_again() -> None:
    gateway = ScriptedGateway(on_reuse="cut")
    async with through_forwarder(gateway) as (base, tool):
        assert (await tool.post(f"{base}/v1/chat/completions", json=CHAT)).status_code == 200
        with pytest.raises(httpx.HTTPError):  # the tool sees the cut, as the gateway made it
            await tool.post(f"{base}/v1/chat/completions", json=CHAT)
    assert len(gateway.bodies) == 2  # the second request went to the gateway once


async def test_a_fresh_connection_closed_without_an_answer_is_not_sent_again() -> None:
    gateway = ScriptedGateway(on_fresh="close")
    async with through_forwarder(gateway) as (base, tool):
        r = await tool.post(f"{base}/v1/chat/completions", json=CHAT)
    assert r.status_code == 502
    assert "failed to answer" in r.json()["error"]["message"]
    assert len(gateway.bodies) == 1  # the gateway may have acted on it: it is not the forwarder's to repeat


async def test_a_body_past_the_replay_limit_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_body, "REPLAY_BYTES", 100)  # kept no further: nothing to send again
    gateway = ScriptedGateway(on_reuse="close")
    data = json.dumps(CHAT).encode()
    async with through_forwarder(gateway) as (base, tool):
        assert (await tool.post(f"{base}/v1/chat/completions", content=data)).status_code == 200
        r = await tool.post(f"{base}/v1/chat/completions", content=_streamed(data))
    assert r.status_code == 502
    assert gateway.bodies == [data, data]
