"""SSE both ways: framing the events memproxy writes, splitting the events an upstream sends, and a
streaming response that passes chunks on as they arrive and notices a client hanging up at once.

Starlette's StreamingResponse only learns of a disconnect when it next writes; a stream waiting on
a slow upstream would keep the upstream request open. Here a second task listens for
`http.disconnect` and cancels the pump, which closes the upstream stream within the same tick.

A stream the stopping daemon cannot wait for (`memproxy down` past its timeout) is ended by it
(`OpenStreams.cut`), or cancelled by uvicorn past its own graceful timeout: either way it ends with
its `on_cut` event, which says why. The closing loop used to cancel such streams, and uvicorn logged
a traceback for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from daemon.gateway.encode import dumps

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def compact_json(obj: Any) -> bytes:
    return dumps(obj)


def data_event(obj: Any) -> bytes:
    """An unnamed SSE event (`data: {...}`), as OpenAI's streams are made."""
    return b"data: " + compact_json(obj) + b"\n\n"


def named_event(name: str, obj: Any) -> bytes:
    """A named SSE event (`event: name` + `data: {...}`), as Anthropic's and the Responses API's are."""
    return b"event: " + name.encode() + b"\ndata: " + compact_json(obj) + b"\n\n"


_LINE_END = re.compile(rb"\r\n?|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event as the upstream sent it: its bytes (blank line included) and what the spec reads in them."""

    raw: bytes
    name: bytes  # the `event:` field; b"" for an unnamed event
    data: bytes | None  # the `data:` lines joined with b"\n"; None when there were none (a comment, say)


class SseSplitter:
    """Cuts an SSE byte stream into events as the spec frames them, however the bytes arrive.

    Lines end with `\n`, `\r\n` or `\r`; a blank line ends an event; `data:` lines join with `\n`;
    lines starting with `:` are comments. Every byte fed comes back in some event's `raw`, unchanged,
    except an unfinished last event: callers relay the upstream's bytes as they are.
    """

    __slots__ = ("_buffer", "_data", "_first", "_line", "_name")

    def __init__(self) -> None:
        self._buffer = b""
        self._line = 0  # where in the buffer the first line not yet read starts
        self._name = b""
        self._data: list[bytes] | None = None
        self._first = True  # a byte order mark may open the stream

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events `chunk` completes, in order."""
        self._buffer += chunk
        return self._split(final=False)

    def end(self) -> list[SseEvent]:
        """At the end of the stream: the events a last lone `\r` completes (it could not be told from
        the first half of `\r\n` before)."""
        return self._split(final=True)

    def _split(self, *, final: bool) -> list[SseEvent]:
        buffer, events, start = self._buffer, [], 0
        while match := _LINE_END.search(buffer, self._line):
            if match.end() == len(buffer) and match.group() == b"\r" and not final:
                break  # maybe the first half of "\r\n": wait for the next byte
            line = buffer[self._line : match.start()]
            self._line = match.end()
            if line:
                self._field(line)
                continue
            data = None if self._data is None else b"\n".join(self._data)
            events.append(SseEvent(buffer[start : self._line], self._name, data))
            start, self._name, self._data = self._line, b"", None
        if start:
            self._buffer, self._line = buffer[start:], self._line - start
        return events

    def _field(self, line: bytes) -> None:
        if self._first:
            self._first, line = False, line.removeprefix(_BOM)
        if line.startswith(b":"):
            return  # a comment
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"data":
            if self._data is None:
                self._data = [value]
            else:
                self._data.append(value)
        elif name == b"event":
            self._name = value


class WholeEvents:
    """Cuts a raw SSE byte stream where its events end, so what a relay passes on stops between two
    events: an error event written after it is never glued to half an event the upstream left.

    The bytes of an unfinished event are held until it ends, up to `limit`; an event longer than
    that (a Responses stream's closing events repeat the whole answer) is passed on as it comes.
    """

    __slots__ = ("_held", "_through", "limit")

    def __init__(self, limit: int = 1024 * 1024) -> None:
        self.limit = limit
        self._held = b""
        self._through = False  # inside an event over the limit: passing its bytes on as they come

    def feed(self, chunk: bytes) -> bytes:
        """What of `chunk` (with what was held) can be passed on now."""
        data = self._held + chunk if self._held else chunk
        end = _last_event_end(data)
        if end >= 0:
            self._through = False
        if self._through or len(data) - max(end, 0) > self.limit:
            self._held, self._through = b"", True
            return data
        if end < 0:
            self._held = data
            return b""
        self._held = data[end:]
        return data[:end] if self._held else data


def _last_event_end(data: bytes) -> int:
    """Where the last blank line in `data` ends (`\n\n`, `\r\n\r\n`, `\r\r`), or -1."""
    ends = (data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n"), data.rfind(b"\r\r"))
    return max((at + (4 if n == 1 else 2) for n, at in enumerate(ends) if at >= 0), default=-1)


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[SseEvent]]:
    """The events each chunk of an SSE byte stream completes (lists may be empty), then the last ones."""
    splitter = SseSplitter()
    async for chunk in chunks:
        yield splitter.feed(chunk)
    yield splitter.end()


class EventStreamResponse(Response):
    """`text/event-stream` from an async iterator of ready-made SSE bytes."""

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        on_disconnect: Callable[[], None],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        on_cut: Callable[[], bytes] | None = None,
    ) -> None:
        self.chunks = chunks
        self.on_disconnect = on_disconnect
        self.on_cut = on_cut  # the daemon stops: note it, and say it to the client (b"" if it is all said)
        self.status_code = status_code
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streams: OpenStreams | None = getattr(getattr(scope.get("app"), "state", None), "streams", None)
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(self._watch(receive))
        cut = asyncio.Event()
        told = asyncio.ensure_future(cut.wait())
        last: bytes | None = None
        if streams is not None:
            streams.opened(cut)
        try:
            await asyncio.wait((pump, watch, told), return_when=asyncio.FIRST_COMPLETED)
            if told.done() and not pump.done() and self.on_cut is not None:
                last = self.on_cut()  # before the pump is cancelled, so the row says why
        except asyncio.CancelledError:
            # uvicorn cancels what is left once its graceful shutdown has waited long enough
            if self.on_cut is None or streams is None or not streams.stopping:
                raise
            last = self.on_cut()
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # handled: the stream ends here, with its reason
        finally:
            if streams is not None:
                streams.closed(cut)
            hung_up = watch.done() and not pump.done() and last is None
            for task in (pump, watch, told):
                if not task.done():
                    task.cancel()
            await asyncio.gather(pump, watch, told, return_exceptions=True)
            if hung_up or (pump.done() and not pump.cancelled() and isinstance(pump.exception(), OSError)):
                self.on_disconnect()
            await aclose(self.chunks)
        if last is not None:
            with contextlib.suppress(Exception):  # a client that is gone too: nothing is owed to it
                async with asyncio.timeout(1.0):
                    await send({"type": "http.response.body", "body": last, "more_body": False})

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


class OpenStreams:
    """The streams being sent (the app's `state.streams`), so a stopping daemon can end each one with
    its reason rather than have the closing loop cancel it."""

    def __init__(self) -> None:
        self.stopping = False
        self._cuts: set[asyncio.Event] = set()

    def opened(self, cut: asyncio.Event) -> None:
        self._cuts.add(cut)

    def closed(self, cut: asyncio.Event) -> None:
        self._cuts.discard(cut)

    async def cut(self, timeout: float) -> int:
        """End every open stream now (each with its `on_cut` event); wait up to `timeout` seconds for
        them to be sent. How many were open."""
        self.stopping = True
        count = len(self._cuts)
        for cut in list(self._cuts):
            cut.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._cuts:
                    await asyncio.sleep(0.01)
        return count


async def aclose(chunks: Any) -> None:
    """Close a stream (an async generator, LiteLLM's, aiohttp's) if it can be closed; never raise."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
