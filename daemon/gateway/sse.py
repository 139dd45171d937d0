"""A streaming response that passes chunks on as they arrive and notices a client hanging up at once.

Starlette's StreamingResponse only learns of a disconnect when it next writes; a stream waiting on
a slow upstream would keep the upstream request open. Here a second task listens for
`http.disconnect` and cancels the pump, which closes the upstream stream within the same tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def compact_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def data_event(obj: Any) -> bytes:
    """An unnamed SSE event (`data: {...}`), as OpenAI's streams are made."""
    return b"data: " + compact_json(obj) + b"\n\n"


def named_event(name: str, obj: Any) -> bytes:
    """A named SSE event (`event: name` + `data: {...}`), as Anthropic's and the Responses API's are."""
    return b"event: " + name.encode() + b"\ndata: " + compact_json(obj) + b"\n\n"


class EventStreamResponse(Response):
    """`text/event-stream` from an async iterator of ready-made SSE bytes."""

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        on_disconnect: Callable[[], None],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.chunks = chunks
        self.on_disconnect = on_disconnect
        self.status_code = status_code
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(self._watch(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            hung_up = watch.done() and not pump.done()
            for task in (pump, watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            if hung_up or (pump.done() and not pump.cancelled() and isinstance(pump.exception(), OSError)):
                self.on_disconnect()
            await _aclose(self.chunks)

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _watch(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return


async def _aclose(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
