"""uvicorn's HTTP protocol with a deadline and a size limit for each request's head.

uvicorn (httptools) waits for a request's headers as long as the client likes and takes headers of
any size: 32 idle or dripping connections stayed open 160 s on the gateway and on a project port, and
a 64 MiB header was read whole (+130 MB RSS). Its keep-alive timer only runs between requests. Here
a request's head (request line and headers) must arrive within HEAD_TIMEOUT_S of its first byte (of
the connection, for the first request), else 408 and the connection is closed; a head over
MAX_HEAD_BYTES is answered 431 and closed. The body has its own limits (`max_body_bytes`,
`body_timeout`); an idle kept-alive connection is closed by uvicorn's `timeout_keep_alive`.

Connections themselves are bounded too. Under a low file-descriptor limit, 30 idle sockets (kept
alive, or sending nothing) held every descriptor: `accept()` failed and every legitimate request
waited until one of them timed out. A new connection that brings the process within FD_HEADROOM of
its `RLIMIT_NOFILE`, or its port over MAX_CONNECTIONS_PER_PORT, closes the oldest idle connection
(one with no request under way: nothing of a head received, no answer being written), of any port
for the descriptors, of its own for the port's cap. With none idle, the newcomer is answered 503
and closed: a request being served is never cut to make room. The check is the accepted socket's
descriptor number (the lowest free one, so it counts the open descriptors): no system call per
connection beyond the limit's own.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024
# the interceptors' pool alone may hold 512 connections to the gateway (interceptor/forwarder.py)
MAX_CONNECTIONS_PER_PORT = 1024
# descriptors kept free for what a request needs besides its socket: upstream and gateway hops, files
FD_HEADROOM = 16

# every open connection of every port in this process, oldest first
_OPEN: dict[LimitedHttpToolsProtocol, None] = {}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a head that is too slow (408) or too large (431)."""

    head_timeout_s = HEAD_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES
    _in_head = True
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None
    _served = False  # a request of this connection has been read whole

    max_connections = MAX_CONNECTIONS_PER_PORT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _OPEN[self] = None
        self._arm_head_timer()
        sock = transport.get_extra_info("socket")
        short_of_fds = sock is not None and sock.fileno() >= resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_HEADROOM
        if short_of_fds and not self._close_oldest_idle(lambda other: True):
            self._refuse(503, "Service Unavailable", "memproxy has no file descriptors left for another connection")
        elif len(self.connections) > self.max_connections and not self._close_oldest_idle(
            lambda other: other.connections is self.connections
        ):
            self._refuse(503, "Service Unavailable", f"this port has {self.max_connections} connections open")

    def connection_lost(self, exc: Exception | None) -> None:
        _OPEN.pop(self, None)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def idle(self) -> bool:
        """No request under way: nothing of a head received, and no answer being written."""
        answering = self.cycle is not None and not self.cycle.response_complete
        return self._in_head and self._head_bytes == 0 and not answering and not self.transport.is_closing()

    def _close_oldest_idle(self, eligible: Callable[[LimitedHttpToolsProtocol], bool]) -> bool:
        """Close the oldest idle connection `eligible` allows: first one that never sent a request, then
        a kept-alive one (a client's pool, such as the interceptors', would find it closed on reuse)."""
        for served in (False, True):
            for other in _OPEN:
                if other is not self and other._served == served and eligible(other) and other.idle():
                    _OPEN.pop(other)
                    other._cancel_head_timer()
                    other.transport.close()
                    return True
        return False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        # counted per chunk and checked once the parser has had it: a chunk that ends the head and
        # carries body bytes is no head over the limit
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._refuse(431, "Request Header Fields Too Large", "the request's headers are over 64 KiB")

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0  # what comes next is the next request's head
        self._served = True
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and not answering and not self.transport.is_closing():
            self._refuse(
                408, "Request Timeout", f"the request's headers did not arrive within {self.head_timeout_s:g} s"
            )

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._cancel_head_timer()
        body = message.encode("ascii")
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
