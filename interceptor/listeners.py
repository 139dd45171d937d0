"""Hosting every registered project's interceptor port inside the daemon's event loop.

Each port is its own `uvicorn.Server` sharing the daemon's loop and one gateway connection pool (and
one session of fresh connections, for a request sent again).
We drive `startup()`/`shutdown()` ourselves, never `serve()`, which would take over the process's
signals from the daemon. `sync()` makes the listening set match the registry: the daemon calls it
at start and whenever `memproxy ports assign|release` tells it the registry changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import uvicorn

from daemon.config.paths import Paths
from daemon.config.settings import BODY_TIMEOUT_S
from daemon.errors import MemproxyError, RegistryError
from daemon.http_limits import LimitedHttpToolsProtocol
from daemon.sockets import bind_listener
from interceptor.forwarder import make_forwarder, make_gateway_client
from interceptor.registry import load

log = logging.getLogger("memproxy.interceptor")

# A released or moved project's open streams get this long to finish before they are cut.
DRAIN_SECONDS = 5


@dataclass
class _Listener:
    port: int
    server: uvicorn.Server


class Listeners:
    """The set of project ports the daemon listens on."""

    def __init__(
        self,
        paths: Paths,
        host: str,
        gateway_url: str,
        master_key: str | None,
        client: aiohttp.ClientSession | None = None,
        max_body_bytes: int | None = None,
        body_timeout: float = BODY_TIMEOUT_S,
        token: str | None = None,
    ) -> None:
        """`host` should be loopback: a project port adds the master key, so it must not face the network.
        Without `client`, one pool is made here and closed by `stop()`; with `token`, every port requires it."""
        self.paths = paths
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.host = host
        self.gateway_url = gateway_url
        self.master_key = master_key
        self._owns_client = client is None
        self.client = client if client is not None else make_gateway_client()  # needs the running loop
        self.fresh = make_gateway_client(fresh=True)  # a request sent again after a dead kept-alive connection
        self._running: dict[str, _Listener] = {}
        self._errors: dict[str, tuple[int, str]] = {}
        self._draining: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    async def sync(self) -> dict[str, dict[str, Any]]:
        """Listen on exactly the registry's ports: {project: {"port", "listening", "error"}}.

        A damaged registry leaves every listener as it was (logged; `memproxy ports` names the problem).
        """
        async with self._lock:
            try:
                wanted = load(self.paths)
            except RegistryError as exc:
                log.error("%s", exc)
                return self.report()
            for name, listener in list(self._running.items()):
                if wanted.get(name) != listener.port:
                    self._stop_listening(name)
            self._errors = {name: err for name, err in self._errors.items() if wanted.get(name) == err[0]}
            for name, port in sorted(wanted.items()):
                if name not in self._running:
                    await self._start(name, port)
            return self.report(wanted)

    def report(self, wanted: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
        """Each known project's port, whether it is listening, and why not."""
        if wanted is None:
            wanted = {name: listener.port for name, listener in self._running.items()}
            wanted.update({name: err[0] for name, err in self._errors.items()})
        return {
            name: {
                "port": port,
                "listening": name in self._running,
                "error": self._errors[name][1] if name in self._errors else None,
            }
            for name, port in sorted(wanted.items())
        }

    async def stop(self, timeout: float = DRAIN_SECONDS) -> None:
        """Stop every listener; open streams get `timeout` seconds to finish."""
        async with self._lock:
            for name in list(self._running):
                self._stop_listening(name, timeout)
            if self._draining:
                await asyncio.gather(*self._draining, return_exceptions=True)
            if self._owns_client:
                await self.client.close()
            await self.fresh.close()

    async def _start(self, name: str, port: int) -> None:
        try:
            sock = bind_listener(self.host, port)
        except MemproxyError as exc:
            log.warning("project %s: %s", name, exc)
            self._errors[name] = (port, str(exc))
            return
        app = make_forwarder(
            name,
            self.gateway_url,
            self.client,
            self.master_key,
            max_body_bytes=self.max_body_bytes,
            body_timeout=self.body_timeout,
            token=self.token,
            fresh=self.fresh,
        )
        config = uvicorn.Config(
            app,
            lifespan="off",
            http=LimitedHttpToolsProtocol,  # a deadline and a size limit for each request's headers
            access_log=False,
            # longer than tools' pool expiry, so an idle connection is never closed under a reuse
            timeout_keep_alive=120,
            # The daemon configured logging once; a level here would reset uvicorn's loggers process-wide.
            log_level=None,
            log_config=None,
            proxy_headers=False,
            server_header=False,  # the gateway's own Server/Date headers pass through
            date_header=False,
            timeout_graceful_shutdown=DRAIN_SECONDS,
        )
        server = uvicorn.Server(config)
        try:
            config.load()
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=[sock])
        except (OSError, SystemExit) as exc:
            sock.close()
            self._errors[name] = (port, f"cannot listen on {self.host}:{port}: {exc}")
            log.warning("project %s: %s", name, self._errors[name][1])
            return
        self._errors.pop(name, None)
        self._running[name] = _Listener(port, server)
        log.info("project %s listening on %s:%d", name, self.host, port)

    def _stop_listening(self, name: str, timeout: float = DRAIN_SECONDS) -> None:
        """Free the port now (a move or a new project may want it); drain open requests in the background."""
        listener = self._running.pop(name)
        server = listener.server
        server.config.timeout_graceful_shutdown = max(1, round(timeout))
        for s in server.servers:
            s.close()
        server.should_exit = True
        task = asyncio.ensure_future(server.shutdown())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)
        log.info("project %s stopped listening on %s:%d", name, self.host, listener.port)
