"""The Supermemory backend: the official `supermemory` SDK (v5 API) against a configurable base URL.

A memproxy scope becomes a Supermemory namespace (what v3/v4 called a container tag). Every user
gets one persistent session: an `httpx.AsyncClient` (with its own cookie jar and keep-alive pool)
wrapped in an `AsyncSupermemory`, created on first use and kept across requests, so whatever the
server pins to a session (cookies, connections) survives from one chat request to the next.

`forget` and the capture cap and retention work on the namespace's documents as the v5 API lists
them (`POST /ns/{ns}/list/documents`, 100 a page, with their content and metadata) and deletes them
by id (`DELETE /ns/{ns}/document`): `forget` takes every document that quotes the forgotten text
whole; `prune_captured` deletes the captured documents (`metadata.source == "capture"`) past the
newest `max_memories_per_scope` and those older than `retention_days`. Each walks at most
`MAX_PAGES` pages (10,000 documents). Pruning one scope runs at most once per `prune_every` seconds
(a minute: each run lists the namespace), so a scope may hold a minute's captures over its cap.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from daemon.errors import MemoryBackendError
from daemon.memory.base import MIN_QUOTED_CHARS, Memory, MemoryBackend, require_text
from daemon.usage.record import iso_utc

if TYPE_CHECKING:
    from supermemory import AsyncSupermemory

log = logging.getLogger("memproxy.memory")
T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.supermemory.ai"
# A whole pasted file is not a search query; the head of it says what the user is asking about.
MAX_QUERY_CHARS = 2000
PAGE = 100  # the most documents one list call returns (v5 API)
MAX_PAGES = 100
PRUNE_EVERY_SECONDS = 60.0
CAPTURED = "capture"  # `metadata.source` of a captured memory (daemon.memory.capture.CAPTURED)
_SAFE = re.compile(r"[A-Za-z0-9.-]")


def namespace_for(scope: str) -> str:
    """`scope` as a namespace that is safe in a URL path, one-to-one (`project:shop` → `project_3ashop`).

    Namespaces travel as a path segment the SDK does not escape, so `:` and `/` cannot stay; every
    byte outside `[A-Za-z0-9.-]` becomes `_hh`, which keeps distinct scopes distinct.
    """
    return "".join(ch if _SAFE.fullmatch(ch) else "".join(f"_{b:02x}" for b in ch.encode()) for ch in scope)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _failure(op: str, exc: BaseException) -> MemoryBackendError:
    # The SDK raises its own timeout class (APITimeoutError), not httpx's.
    if isinstance(exc, httpx.TimeoutException | TimeoutError) or "Timeout" in type(exc).__name__:
        detail = "timed out"
    elif _status(exc) is not None:
        detail = f"HTTP {_status(exc)}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return MemoryBackendError(f"Supermemory {op} failed: {detail}")


def _metadata(scope: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    # Supermemory metadata values are str, number, bool or a list of str; others are dropped.
    out: dict[str, Any] = {"memproxy_scope": scope}
    for key, value in (metadata or {}).items():
        scalar = isinstance(value, str | int | float | bool)
        if scalar or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out[str(key)] = value
    return out


class SupermemorySessions:
    """The per-user clients, least recently used first; the oldest is closed past `max_users`."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 1,
        max_users: int = 256,
        prune_every: float = PRUNE_EVERY_SECONDS,
    ) -> None:
        self.api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_users = max(1, max_users)
        self.prune_every = prune_every
        self.pruned_at: dict[str, float] = {}  # scope -> when it was last pruned (monotonic)
        self.requests = 0
        self.errors = 0
        self._clients: OrderedDict[str, tuple[httpx.AsyncClient, AsyncSupermemory]] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def client(self, user_id: str) -> AsyncSupermemory:
        """`user_id`'s SDK client, created on first use and kept."""
        if not self.api_key:
            raise MemoryBackendError(
                "context_retrieval.backend is supermemory but no api_key is set "
                "(context_retrieval.api_key or tool_execution.supermemory_api_key)"
            )
        entry = self._clients.get(user_id)
        if entry is not None:
            self._clients.move_to_end(user_id)
            return entry[1]
        from supermemory import AsyncSupermemory

        http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
        sdk = AsyncSupermemory(
            api_key=self.api_key,
            base_url=self.base_url,
            httpx_client=http,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        self._clients[user_id] = (http, sdk)
        while len(self._clients) > self.max_users:
            _, (old, _) = self._clients.popitem(last=False)
            task = asyncio.get_running_loop().create_task(old.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return sdk

    def cookies(self, user_id: str) -> dict[str, str]:
        """The cookies `user_id`'s session holds (tests and `/health`)."""
        entry = self._clients.get(user_id)
        return dict(entry[0].cookies.items()) if entry else {}

    def summary(self) -> dict[str, Any]:
        """`/health` `sessions`: how many users hold a session, and how they fared."""
        with_cookies = sum(1 for http, _ in self._clients.values() if len(http.cookies))
        return {
            "supermemory": {
                "users": len(self._clients),
                "with_cookies": with_cookies,
                "base_url": self.base_url,
                "requests": self.requests,
                "errors": self.errors,
            }
        }

    async def close(self) -> None:
        """Close every session."""
        clients, self._clients = list(self._clients.values()), OrderedDict()
        await asyncio.gather(*(http.aclose() for http, _ in clients), *self._closing, return_exceptions=True)


class SupermemoryBackend:
    """The memory interface over Supermemory, seen through one user's session."""

    def __init__(self, sessions: SupermemorySessions, user_id: str = "default") -> None:
        self._sessions = sessions
        self.user_id = user_id

    async def _send(self, op: str, fn: Callable[[AsyncSupermemory], Awaitable[T]], absent_ok: bool) -> T | None:
        client = self._sessions.client(self.user_id)
        self._sessions.requests += 1
        try:
            return await fn(client)
        except Exception as exc:
            if absent_ok and _status(exc) == 404:
                return None  # no such document or namespace: an answer, not a failure
            self._sessions.errors += 1
            raise _failure(op, exc) from exc

    async def _call(self, op: str, fn: Callable[[AsyncSupermemory], Awaitable[T]]) -> T:
        """Run one SDK call; any failure becomes a MemoryBackendError saying which and why."""
        result = await self._send(op, fn, absent_ok=False)
        assert result is not None
        return result

    async def _maybe(self, op: str, fn: Callable[[AsyncSupermemory], Awaitable[T]]) -> T | None:
        """`_call`, but a 404 is None rather than an error."""
        return await self._send(op, fn, absent_ok=True)

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory:
        """Send `text` to the scope's namespace; Supermemory processes it into memories later."""
        require_text(text)
        ns = namespace_for(scope)
        ref = await self._call("add", lambda c: c.add(ns, content=text, metadata=_metadata(scope, metadata)))
        return Memory(id=str(ref.id), text=text, scope=scope, created_at=iso_utc(), metadata=metadata)

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
        """Supermemory's hybrid search in the scope's namespace, best first."""
        if not query.strip() or limit <= 0:
            return []
        ns, q = namespace_for(scope), query[:MAX_QUERY_CHARS]
        found = await self._call("search", lambda c: c.search(ns, query=q, limit=limit))
        out = []
        for r in found.results:
            text = r.memory or r.chunk
            if text:
                created = _iso(r.system.created_at or r.system.updated_at)
                out.append(Memory(id=r.id, text=text, scope=scope, created_at=created, score=r.similarity))
        return out

    async def get(self, scope: str, id: str) -> Memory | None:
        """The document `id` (or, failing that, the memory `id`) in the scope's namespace."""
        ns = namespace_for(scope)
        doc = await self._maybe("get", lambda c: c.documents.get(ns, id))
        if doc is not None:
            text = doc.content or doc.summary or doc.title or ""
            return Memory(id=doc.id, text=text, scope=scope, created_at=_iso(doc.system.created_at))
        mem = await self._maybe("get", lambda c: c.memories.get(ns, id))
        if mem is None:
            return None
        return Memory(id=mem.id, text=mem.memory, scope=scope, created_at=_iso(mem.system.created_at))

    async def list(self, scope: str, limit: int = 50) -> list[Memory]:
        """The newest documents of the scope's namespace, with their text."""
        ns = namespace_for(scope)
        page = await self._call(
            "list",
            lambda c: c.list(ns, "documents", limit=limit, sort="createdAt", order="desc", include={"content": True}),
        )
        return [
            Memory(d.id, d.content or d.summary or d.title or "", scope, _iso(d.system.created_at))
            for d in page.documents
        ]

    async def _documents(self, ns: str, order: str = "desc") -> AsyncIterator[Any]:
        """The namespace's documents with content and metadata, newest (or oldest) first, page by page."""
        for number in range(1, MAX_PAGES + 1):

            def page_of(c: AsyncSupermemory, n: int = number) -> Awaitable[Any]:
                include = {"content": True}
                return c.list(ns, "documents", page=n, limit=PAGE, sort="createdAt", order=order, include=include)  # type: ignore[arg-type]

            page = await self._call("list", page_of)
            for document in page.documents:
                yield document
            total = getattr(page.pagination, "total_pages", None)
            if not page.documents or total is None or number >= total:
                return

    async def _delete(self, ns: str, ids: Sequence[str]) -> int:
        """Delete documents `ids` (100 a call); how many the server deleted."""
        gone = 0
        for start in range(0, len(ids), PAGE):
            batch = list(ids[start : start + PAGE])

            def delete(c: AsyncSupermemory, b: Sequence[str] = batch) -> Awaitable[Any]:
                return c.documents.delete(ns, ids=b)

            result = await self._maybe("forget", delete)
            gone += int(result.count) if result is not None else 0
        return gone

    async def forget(self, scope: str, id: str) -> bool:
        """Delete document `id` from the scope's namespace, and every document of the namespace that
        quotes its text whole (a captured answer that repeated it); False if there was no `id`."""
        ns = namespace_for(scope)
        doc = await self._maybe("forget", lambda c: c.documents.get(ns, id))
        text = (doc.content or "").strip() if doc is not None else ""
        ids = [id]
        if len(text) >= MIN_QUOTED_CHARS:
            ids += [d.id async for d in self._documents(ns) if d.id != id and text in (d.content or "")]
        result = await self._maybe("forget", lambda c: c.documents.delete(ns, ids=ids[:1]))
        if result is None or result.count == 0:
            return False
        await self._delete(ns, ids[1:])
        return True

    async def prune_captured(self, scope: str, keep: int | None, retention_days: int | None) -> int:
        """Delete the scope's captured documents beyond the newest `keep` and older than
        `retention_days`; return how many. Documents added otherwise (`memory add`) stay."""
        sessions = self._sessions
        now = time.monotonic()
        if now - sessions.pruned_at.get(scope, float("-inf")) < sessions.prune_every:
            return 0
        sessions.pruned_at[scope] = now
        cutoff = datetime.now(UTC) - timedelta(days=retention_days) if retention_days else None
        ns, doomed, seen = namespace_for(scope), [], 0
        async for doc in self._documents(ns):
            if (doc.metadata or {}).get("source") != CAPTURED:
                continue
            seen += 1
            created = _moment(doc.system.created_at)
            if (keep is not None and seen > keep) or (cutoff and created is not None and created < cutoff):
                doomed.append(doc.id)
        return await self._delete(ns, doomed) if doomed else 0

    async def forget_all(self, scope: str) -> int:
        """Delete the scope's namespace; return how many documents went with it."""
        ns = namespace_for(scope)
        result = await self._maybe("forget", lambda c: c.namespaces.delete(ns))
        return 0 if result is None else int(getattr(result, "deleted_documents_count", 0) or 0)

    def for_user(self, user_id: str) -> MemoryBackend:
        """The same store through `user_id`'s own session."""
        return SupermemoryBackend(self._sessions, user_id)

    def sessions(self) -> dict[str, Any]:
        """`{"supermemory": {"users": N, ...}}` for `/health`."""
        return self._sessions.summary()

    async def close(self) -> None:
        """Close every user's session."""
        await self._sessions.close()


def _moment(moment: Any) -> datetime | None:
    """A datetime or an ISO string from the server as an aware datetime; None if it is neither."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: Any) -> str:
    """A datetime or an ISO string from the server in memproxy's one timestamp format."""
    parsed = _moment(moment)
    if parsed is None:
        return moment if isinstance(moment, str) else ""
    return iso_utc(parsed)
