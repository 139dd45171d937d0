"""The memory interface every backend speaks, and the one record it deals in.

A scope (`project:shop`, `user:alice`, `project:shop/user:alice`, see `daemon.identity.memory_scope`)
is a hard wall: a backend never returns a memory of one scope to a call made for another.
Backend failures surface as `MemoryBackendError`; callers on the request path swallow them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from daemon.errors import MemoryBackendError

# `forget` also deletes the memories that quote the forgotten text whole, when it is at least this
# long (a shorter one, "yes", would take unrelated memories with it). Every backend does.
MIN_QUOTED_CHARS = 16


@dataclass
class Memory:
    """One remembered text in one scope."""

    id: str
    text: str
    scope: str
    created_at: str
    score: float | None = None
    metadata: dict[str, Any] | None = None
    # how often it went into a request and when last (None: the backend does not count, Supermemory)
    used_count: int | None = None
    last_used_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """SPEC's `memory search|list --json` shape: `{id, text, scope, created_at, score?, used_count?,
        last_used_at?}` (the last two where the backend counts uses; `last_used_at` null if never)."""
        out: dict[str, Any] = {"id": self.id, "text": self.text, "scope": self.scope, "created_at": self.created_at}
        if self.score is not None:
            out["score"] = self.score
        if self.used_count is not None:
            out["used_count"] = self.used_count
            out["last_used_at"] = self.last_used_at
        return out


class MemoryBackend(Protocol):
    """A store of memories, partitioned by scope. Every method may raise `MemoryBackendError`."""

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory: ...

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]: ...

    async def get(self, scope: str, id: str) -> Memory | None: ...

    async def list(self, scope: str, limit: int = 50) -> list[Memory]: ...

    async def forget(self, scope: str, id: str) -> bool: ...

    async def forget_all(self, scope: str) -> int: ...

    def for_user(self, user_id: str) -> MemoryBackend:
        """The same store seen through `user_id`'s own session (Supermemory keeps one per user)."""
        ...

    def sessions(self) -> dict[str, Any]:
        """A small summary for `/health` `sessions`."""
        ...

    async def close(self) -> None: ...


def require_text(text: str) -> str:
    """`text` if it has something to remember, else a MemoryBackendError a user can act on."""
    if not isinstance(text, str) or not text.strip():
        raise MemoryBackendError("a memory needs some text")
    return text
