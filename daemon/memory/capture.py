"""Capture: after a successful exchange, the question and the answer become a memory of the scope.

Stored off the request path: `submit()` only puts the exchange on a bounded queue, and one
background task writes it. If the backend is slower than the traffic and the queue fills, new
exchanges are dropped with a log line rather than held in memory without limit. A store that is
locked (another process writing memory.db) is retried with backoff for up to two minutes, in order;
only then is the exchange given up, with a log line. A capture that restates an older captured
memory of the scope (`likeness` at least `FOLD_AT`) replaces it. After each capture, the scope's
captured memories beyond `max_memories_per_scope` (oldest first) and older than `retention_days`
are deleted (both backends: `prune_captured`; notes added by hand are never folded or evicted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daemon.errors import MemoryBackendError
from daemon.memory.base import MemoryBackend
from daemon.memory.clean import scrub, strip_blocks
from daemon.memory.fts import words

if TYPE_CHECKING:
    from daemon.config.settings import ContextRetrieval

log = logging.getLogger("memproxy.memory")

# what `metadata["source"]` says of a captured memory: only those are evicted by cap and retention
CAPTURED = "capture"
# how long a capture keeps trying a locked store (another process writing) before it is given up, logged
RETRY_FOR_SECONDS = 120.0

# Each side of an exchange is clipped to this many characters: a memory is a reminder, and a long
# answer (a whole file of code) would otherwise fill `max_context_length` on its own.
MAX_SIDE_CHARS = 2000
# longer than any key: a key that starts within a side's clip is scrubbed whole before the clip
_SCRUB_SLACK = 4096


# A new capture this close to an older captured memory of the scope (token-set Jaccard of their
# words, the User:/Assistant: labels aside) replaces it: the same fact retyped, or restated with a
# word or two in four changed or added. The newer wording is kept.
FOLD_AT = 0.75
# how many of the scope's best matches for the new text are compared with it
FOLD_CANDIDATES = 5
_LABELS = ("User: ", "Assistant: ")


def _word_set(text: str) -> set[str]:
    lines = (line.removeprefix(_LABELS[0]).removeprefix(_LABELS[1]) for line in text.splitlines())
    return set(words("\n".join(lines)))


def likeness(a: str, b: str) -> float:
    """Token-set Jaccard of two memories' words (labels aside): 1.0 for the same words in any form."""
    x, y = _word_set(a), _word_set(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def exchange_text(question: str, answer: str, max_side_chars: int = MAX_SIDE_CHARS) -> str:
    """`User: ...\\nAssistant: ...`, or "" when either side is empty (nothing worth remembering)."""
    q, a = (question or "").strip(), (answer or "").strip()
    if not q or not a:
        return ""
    return f"User: {_clip(q, max_side_chars)}\nAssistant: {_clip(a, max_side_chars)}"


@dataclass(frozen=True)
class _Item:
    scope: str
    text: str
    user_id: str | None
    metadata: dict[str, Any] | None


class Capturer:
    """One background task that stores submitted exchanges in the backend, in order."""

    def __init__(
        self,
        backend: MemoryBackend,
        *,
        enabled: bool = True,
        maxsize: int = 1000,
        timeout: float = 30.0,
        max_per_scope: int | None = None,
        retention_days: int | None = None,
        retry_for: float = RETRY_FOR_SECONDS,
        retry_delay: float = 0.5,
    ) -> None:
        self.backend = backend
        self.enabled = enabled
        self.timeout = timeout
        self.max_per_scope = max_per_scope
        self.retention_days = retention_days
        self.retry_for = retry_for
        self.retry_delay = retry_delay
        self.stored = 0
        self.folded = 0  # older captured memories a near-duplicate capture replaced
        self.dropped = 0
        self.failed = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max(1, maxsize))
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, backend: MemoryBackend, cr: ContextRetrieval) -> Capturer:
        """A capturer that is on when `context_retrieval.capture` is."""
        return cls(
            backend, enabled=cr.capture, max_per_scope=cr.max_memories_per_scope, retention_days=cr.retention_days
        )

    def start(self) -> None:
        """Start the writer task (needs a running event loop); `submit` calls it too."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="memproxy-memory-capture")

    def submit(
        self,
        scope: str,
        question: str,
        answer: str,
        *,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        secrets: Iterable[str] = (),
    ) -> bool:
        """Queue one exchange for storing, without memproxy's own memory blocks and with every key
        (`secrets` by value, and key shapes) redacted; True if queued. Returns at once, never raises."""
        if not self.enabled or self._closed:
            return False
        known = tuple(secrets)
        # only what the memory keeps is scrubbed (with room for a key across the cut): scrubbing a
        # whole 24 MiB prompt held the event loop for seconds (issue 16, item 9)
        q, a = (strip_blocks(side)[: MAX_SIDE_CHARS + _SCRUB_SLACK] for side in (question, answer))
        text = exchange_text(scrub(q, known), scrub(a, known))
        if not text:
            return False
        try:
            self.start()
            self._queue.put_nowait(_Item(scope, text, user_id, metadata))
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("memory capture queue is full (%d); dropped an exchange for %s", self._queue.maxsize, scope)
        except Exception:  # the caller is a request: capture must never break it
            self.dropped += 1
            log.exception("could not queue a memory capture")
        return False

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._store(item)
                self.stored += 1
            except Exception as exc:
                self.failed += 1
                log.warning("could not store a memory in %s: %s", item.scope, exc or type(exc).__name__)
            finally:
                self._queue.task_done()

    async def _store(self, item: _Item) -> None:
        """Add one exchange (a busy store is tried again, with backoff, for `retry_for` seconds), then
        evict what the scope's cap and retention say."""
        backend = self.backend.for_user(item.user_id) if item.user_id else self.backend
        metadata = {**(item.metadata or {}), "source": CAPTURED}
        deadline, delay = time.monotonic() + self.retry_for, self.retry_delay
        while True:
            try:
                added = await asyncio.wait_for(backend.add(item.scope, item.text, metadata), self.timeout)
                break
            except MemoryBackendError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() + delay > deadline:
                    raise
                log.info("memory store busy (%s); trying the capture for %s again in %.1fs", exc, item.scope, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self._fold(backend, item, added.id)
        prune = getattr(backend, "prune_captured", None)
        if prune is not None and (self.max_per_scope is not None or self.retention_days is not None):
            await prune(item.scope, self.max_per_scope, self.retention_days)

    async def _fold(self, backend: MemoryBackend, item: _Item, kept: str) -> None:
        """Forget the scope's older captured memories that `item` restates (`FOLD_AT`); never raises.
        Only a backend whose search returns whole memories with their metadata (the local store) folds:
        Supermemory's returns chunks, without it, and each search would be one more API call."""
        if not getattr(backend, "folds_near_duplicates", False):
            return
        try:
            found = await asyncio.wait_for(backend.search(item.scope, item.text, FOLD_CANDIDATES), self.timeout)
            for old in found:
                captured = (old.metadata or {}).get("source") == CAPTURED
                # forget also takes what quotes the forgotten text whole: never the memory just kept
                quoted = old.text.strip() in item.text
                same = old.id != kept and captured and not quoted and likeness(old.text, item.text) >= FOLD_AT
                if same and await backend.forget(item.scope, old.id):
                    self.folded += 1
        except Exception as exc:  # the new memory is stored: folding is a tidy-up
            log.info("memory capture: could not fold near-duplicates in %s (%s)", item.scope, exc)

    async def drain(self) -> None:
        """Wait until everything submitted so far is stored (or has failed)."""
        if self._task is not None:
            await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop taking exchanges, store what is queued (up to `timeout` seconds), stop the task."""
        self._closed = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("memory capture: %d exchanges not stored at shutdown", self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
