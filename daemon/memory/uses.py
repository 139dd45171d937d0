"""How often, and when last, each memory went into a request: counted off the request path.

The request path only calls `UseLog.note` (a few dict updates on the event loop, never a wait).
One background task gathers the notes for `delay` seconds and hands each scope's counts to the
backend in one call (`mark_used`: the local store runs it on its own thread, in one transaction),
so a burst of requests is one write. A backend without `mark_used` (Supermemory) counts nothing. A
failed write is logged and its counts dropped: they say how useful a memory is, nothing depends on
them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable

from daemon.memory.base import MemoryBackend
from daemon.usage.record import iso_utc

log = logging.getLogger("memproxy.memory")

FLUSH_DELAY = 0.5  # seconds notes are gathered before they are written
MAX_PENDING = 10_000  # distinct memories waiting to be written; past it, new notes are dropped


class UseLog:
    """Counts the memories injected into requests and writes the counts to `backend` in batches."""

    def __init__(self, backend: MemoryBackend, *, delay: float = FLUSH_DELAY) -> None:
        self.backend = backend
        self.delay = delay
        self.written = 0
        self.dropped = 0
        self._pending: dict[str, Counter[str]] = {}
        self._last: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def counts(self) -> bool:
        """Whether the backend keeps counts at all."""
        return callable(getattr(self.backend, "mark_used", None))

    def note(self, scope: str, ids: Iterable[str]) -> None:
        """Count one use of each of `ids` in `scope`, now. Returns at once, never raises."""
        ids = list(ids)
        if not ids or self._closed or not self.counts:
            return
        try:
            if sum(len(c) for c in self._pending.values()) >= MAX_PENDING:
                self.dropped += len(ids)
                return
            self._pending.setdefault(scope, Counter()).update(ids)
            self._last[scope] = iso_utc()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._flush_soon(), name="memproxy-memory-uses")
        except Exception:  # the caller is a request: counting must never break it
            log.exception("could not note a memory use")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.delay)
        await self.flush()

    async def flush(self) -> None:
        """Write every count noted so far."""
        while self._pending:
            pending, self._pending = self._pending, {}
            for scope, counts in pending.items():
                try:
                    await self.backend.mark_used(scope, dict(counts), self._last.get(scope) or iso_utc())  # type: ignore[attr-defined]
                    self.written += sum(counts.values())
                except Exception as exc:
                    self.dropped += sum(counts.values())
                    log.info("could not count memory uses in %s (%s)", scope, exc or type(exc).__name__)

    async def close(self) -> None:
        """Write what is pending and stop counting."""
        self._closed = True
        if self._task is not None:  # it writes within `delay` seconds
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
