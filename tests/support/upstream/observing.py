"""`ObservingUpstream`: the fake upstream that also sees when a client hangs up early, a truncated
stream and a stream held mid-way until the test lets it go on."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

from tests.support.upstream.replies import Reply
from tests.support.upstream.server import Disconnect, FakeUpstream, start_response


class ObservingUpstream(FakeUpstream):
    """The fake upstream, plus: when did a client close a connection whose answer was not finished yet,
    a `truncate` fault (the stream ends cleanly, without its final events), a `linger` one (the
    whole stream, then the connection held open a while, as some servers do after `[DONE]`) and a
    `hold` one (some chunks, then nothing until the test sets `release`; `holding` says it waits)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hangups: list[float] = []  # time.monotonic() of each early hang-up
        self.started: list[float] = []  # time.monotonic() each generating request arrived
        self.crashes = 0  # requests the fake itself failed on (it is a test double: it trusts its input)
        self.release = threading.Event()  # a `hold` stream goes on once this is set (or its seconds ran out)
        self.holding = False  # a `hold` stream is waiting for `release` now

    def fresh(self) -> None:
        super().fresh()
        self.hangups.clear()
        self.started.clear()
        self.release = threading.Event()
        self.holding = False

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body_read = asyncio.Event()
        finished = False

        async def receive_body() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                body_read.set()
            return message

        async def send_watched(message: dict[str, Any]) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                self.hangups.append(time.monotonic())

        watcher = asyncio.ensure_future(watch())
        if scope["path"].rstrip("/").endswith(("/chat/completions", "/messages", "/responses")):
            self.started.append(time.monotonic())
        try:
            await super()._asgi(scope, receive_body, send_watched)
        except Exception as exc:
            if not isinstance(exc, Disconnect):
                self.crashes += 1
            raise
        finally:
            if not watcher.done():
                await asyncio.sleep(0)  # let a disconnect that is already queued be seen
                watcher.cancel()

    async def _send_stream(self, send: Any, events: Any, plan: Any, dialect: Any) -> None:
        reply: Reply = plan.reply
        if reply.fault == "linger":  # type: ignore[comparison-overlap]
            await start_response(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
            for _, data in events:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await asyncio.sleep(reply.fault_seconds)
            await send({"type": "http.response.body", "body": b""})
            return
        if reply.fault == "hold":  # type: ignore[comparison-overlap]
            await self._send_held(send, events, reply, dialect)
            return
        if reply.fault != "truncate":  # type: ignore[comparison-overlap]
            await super()._send_stream(send, events, plan, dialect)
            return
        await start_response(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
        sent = 0
        for kind, data in events:
            if kind == "tail" or (kind == "content" and sent == reply.fault_after):
                break
            sent += kind == "content"
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _send_held(self, send: Any, events: Any, reply: Reply, dialect: Any) -> None:
        """`fault_after` content chunks, then nothing until `release` is set (at most `fault_seconds`),
        then the rest. `holding` is True from before the first chunk until the wait ends."""
        release, deadline = self.release, time.monotonic() + reply.fault_seconds
        self.holding, held, sent = True, False, 0
        try:
            await start_response(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
            for kind, data in events:
                if not held and (kind == "tail" or (kind == "content" and sent == reply.fault_after)):
                    while not release.is_set() and time.monotonic() < deadline:
                        await asyncio.sleep(0.005)
                    held = True
                    self._let_go(release)
                sent += kind == "content"
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self._let_go(release)

    def _let_go(self, release: threading.Event) -> None:
        if release is self.release:  # not a stream an earlier test left behind (fresh() made a new one)
            self.holding = False


def truncated_stream(after_chunks: int, then: Reply) -> Reply:
    """A stream that ends properly at the HTTP level after `after_chunks` chunks, with no final events."""
    return replace(then, fault="truncate", fault_after=after_chunks)  # type: ignore[arg-type]


def held_mid_stream(after_chunks: int, seconds: float, then: Reply) -> Reply:
    """`after_chunks` content chunks, then nothing until the upstream's `release` is set (at most
    `seconds`), then the rest: a stall the test ends, so it can see what arrived during it."""
    return replace(then, fault="hold", fault_after=after_chunks, fault_seconds=seconds)  # type: ignore[arg-type]


def linger_after_end(seconds: float, then: Reply) -> Reply:
    """The whole stream, terminal event included, then `seconds` before the response ends."""
    return replace(then, fault="linger", fault_seconds=seconds)  # type: ignore[arg-type]
