"""The tool's request body as the forwarder streams it up, kept for one replay until the answer starts.

The body goes to the gateway as it arrives (paced by `body_timeout`), never gathered first. Each piece
sent is also kept (up to REPLAY_BYTES) until the gateway's answer begins, so a request that went out
on a kept-alive connection the gateway had just closed can be sent again, whole, on a fresh one
(interceptor/forwarder.py). A body past REPLAY_BYTES is not kept: such a request is not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Receive

from daemon.gateway.body import BodyStalled, paced

# kept for a replay at most: a tool's request is rarely over a few MiB; the gateway holds its own copy
REPLAY_BYTES = 8 * 1024 * 1024
# how long a replay waits for the first attempt's writer (cancelled by aiohttp) to leave `receive`
SETTLE_S = 1.0


class Body:
    """The tool's request body as it arrives, and how it ended: whole, stalled or hung up."""

    __slots__ = ("_idle", "_replay", "done", "gone", "kept", "kept_bytes", "receive", "stalled", "timeout")

    def __init__(self, receive: Receive, timeout: float) -> None:
        self.receive = receive
        self.timeout = timeout
        self.done = False
        self.gone = False
        self.stalled: BodyStalled | None = None
        self.kept: list[bytes] | None = []  # what was received so far; None once past REPLAY_BYTES
        self.kept_bytes = 0
        self._replay: list[bytes] = []
        self._idle = asyncio.Event()  # no `receive()` under way
        self._idle.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in paced(self._messages(), self.timeout):
                yield chunk
        except BodyStalled as exc:
            self.stalled = exc
            raise

    def settle(self) -> None:
        """The answer has started (or the request is over): nothing will be sent again."""
        self.kept = None

    async def rewind(self) -> bool:
        """Make the next `chunks()` start from the first byte again; False if it cannot be."""
        if self.kept is None or self.gone or self.stalled is not None:
            return False
        try:
            # aiohttp cancelled the first attempt's writer; let it leave `receive` so one reader is left
            await asyncio.wait_for(self._idle.wait(), SETTLE_S)
        except TimeoutError:
            return False
        self._replay, self.kept = self.kept, None
        return True

    async def _messages(self) -> AsyncIterator[bytes]:
        replay, self._replay = self._replay, []
        for chunk in replay:
            yield chunk
        while not self.done:
            self._idle.clear()
            try:
                message = await self.receive()
            finally:
                self._idle.set()
            if message["type"] == "http.disconnect":
                self.gone = True
                raise ConnectionAbortedError("the tool hung up before its request body ended")
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self.done = True
            if body:
                self._keep(body)
                yield body

    def _keep(self, chunk: bytes) -> None:
        if self.kept is None:
            return
        self.kept_bytes += len(chunk)
        if self.kept_bytes > REPLAY_BYTES:
            self.kept = None
        else:
            self.kept.append(chunk)
