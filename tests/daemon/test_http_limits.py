"""The per-port connection cap of `LimitedHttpToolsProtocol`, on a real uvicorn server with a cap of 4:
a fifth connection closes the oldest idle one; with all four busy it is answered 503 and the busy
ones are untouched."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.http_limits import LimitedHttpToolsProtocol
from tests.support.serving import serving

CAP = 4
REQUEST = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class FourAtMost(LimitedHttpToolsProtocol):
    max_connections = CAP


def app_waiting_for(release: asyncio.Event) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes = REQUEST) -> bytes:
    writer.write(request)
    await writer.drain()
    return (await asyncio.wait_for(reader.readline(), 5)).strip()


async def test_a_connection_over_the_cap_closes_the_oldest_idle_one() -> None:
    async with serving(app_waiting_for(asyncio.Event()), http=FourAtMost) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CAP)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _status(reader, writer) == b"HTTP/1.1 200 OK"
        assert await asyncio.wait_for(idle[0][0].read(), 5) == b""  # the oldest was closed
        assert await _status(*idle[1]) == b"HTTP/1.1 200 OK"  # the others still serve
        for _r, w in [*idle, (reader, writer)]:
            w.close()


async def test_with_every_connection_busy_a_newcomer_is_503() -> None:
    release = asyncio.Event()
    async with serving(app_waiting_for(release), http=FourAtMost) as port:
        busy = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CAP)]
        for _r, w in busy:
            w.write(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 503")
        release.set()
        for r, _w in busy:
            assert (await asyncio.wait_for(r.readline(), 5)).strip() == b"HTTP/1.1 200 OK"
        for _r, w in [*busy, (reader, writer)]:
            w.close()
