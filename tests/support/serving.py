"""An ASGI app served by uvicorn on a real loopback port inside the test's event loop, and the test's home paths."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from daemon.config.paths import Paths, resolve_paths


def home_paths() -> Paths:
    return resolve_paths().ensure()


@asynccontextmanager
async def serving(app: ASGIApp, http: type[asyncio.Protocol] | None = None) -> AsyncIterator[int]:
    """Serve `app` with uvicorn on a free loopback port in this loop (with `http` as its protocol); yield the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, log_level="warning", access_log=False, http=http or "auto"
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.force_exit = True
        await server.shutdown()
