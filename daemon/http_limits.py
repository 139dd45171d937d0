"""uvicorn's HTTP protocol with a deadline and a size limit for each request's head.

uvicorn (httptools) waits for a request's headers as long as the client likes and takes headers of
any size: 32 idle or dripping connections stayed open 160 s on the gateway and on a project port, and
a 64 MiB header was read whole (+130 MB RSS). Its keep-alive timer only runs between requests. Here
a request's head (request line and headers) must arrive within HEAD_TIMEOUT_S of its first byte (of
the connection, for the first request), else 408 and the connection is closed; a head over
MAX_HEAD_BYTES is answered 431 and closed. The body has its own limits (`max_body_bytes`,
`body_timeout`); an idle kept-alive connection is closed by uvicorn's `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a head that is too slow (408) or too large (431)."""

    head_timeout_s = HEAD_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES
    _in_head = True
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

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
