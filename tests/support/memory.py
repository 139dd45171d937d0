"""Memory backends for tests: `DictBackend` (memories in a dict, scripted failures and delays) and a
Supermemory backend pointed at the fake Supermemory server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.errors import MemoryBackendError
from daemon.memory.base import Memory
from daemon.memory.supermemory_backend import SupermemoryBackend, SupermemorySessions
from tests.daemon.memory.fake_supermemory import API_KEY, FakeSupermemory


class DictBackend:
    """Memories per scope; a search matches any query word. `fail` failures of the `failing` operations
    first, `delay` per call."""

    def __init__(
        self,
        memories: dict[str, list[str]] | None = None,
        *,
        fail: int = 0,
        failing: tuple[str, ...] = ("search", "get"),
        delay: float = 0.0,
    ) -> None:
        self.memories: dict[str, list[Memory]] = {}
        self.fail = fail
        self.failing = failing
        self.delay = delay
        self.calls: list[tuple[str, str, str]] = []
        self.in_flight = self.most_in_flight = 0  # calls waiting out `delay` now, and the most at once
        self._next = 1
        for scope, texts in (memories or {}).items():
            for text in texts:
                self._store(scope, text)

    def _store(self, scope: str, text: str) -> Memory:
        memory = Memory(id=f"m{self._next}", text=text, scope=scope, created_at="2025-01-01T00:00:00Z")
        self._next += 1
        self.memories.setdefault(scope, []).append(memory)
        return memory

    async def _enter(self, op: str, scope: str, arg: str) -> None:
        self.calls.append((op, scope, arg))
        if self.delay:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        if self.fail and op in self.failing:
            self.fail -= 1
            raise MemoryBackendError("database is locked")

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory:
        return self._store(scope, text)

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
        await self._enter("search", scope, query)
        words = set(query.lower().split())
        hits = []
        for m in self.memories.get(scope, []):
            score = len(words & set(m.text.lower().replace(".", "").split()))
            if score:
                hits.append(Memory(m.id, m.text, m.scope, m.created_at, float(score)))
        return sorted(hits, key=lambda m: m.score or 0, reverse=True)[:limit]

    async def get(self, scope: str, id: str) -> Memory | None:
        await self._enter("get", scope, id)
        return next((m for m in self.memories.get(scope, []) if m.id == id), None)

    async def list(self, scope: str, limit: int = 50) -> list[Memory]:
        return self.memories.get(scope, [])[:limit]

    async def forget(self, scope: str, id: str) -> bool:
        return False

    async def forget_all(self, scope: str) -> int:
        return 0

    def for_user(self, user_id: str) -> DictBackend:
        return self

    def sessions(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        return None


def supermemory_backend(server: FakeSupermemory, timeout: float = 5.0) -> SupermemoryBackend:
    # No SDK retries: a scripted 500 should be seen once, and tests stay fast; every capture prunes.
    sessions = SupermemorySessions(API_KEY, server.url, timeout=timeout, max_retries=0, prune_every=0)
    return SupermemoryBackend(sessions)


def wait_stored(home: Path, project: str, where: Callable[[str], bool], timeout: float = 15.0) -> list[str]:
    """The texts of `project`'s memories in the local store of the gateway at `home`, once one matches
    `where`; AssertionError if none has by `timeout`. Capture is written off the request path, and an
    earlier test's exchange may still be on its way: waiting on this project's own memory, not on a
    count of the capturer's, is what cannot be satisfied by someone else's."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.closing(sqlite3.connect(home / "memory.db")) as conn:
            rows = conn.execute("SELECT text FROM memories WHERE scope = ?", (f"project:{project}",)).fetchall()
        texts = [row[0] for row in rows]
        if any(where(t) for t in texts):
            return texts
        assert time.monotonic() < deadline, f"capture did not keep up: {texts}"
        time.sleep(0.01)
