"""Running one memory tool call against the backend, and the result the model reads back.

Every result is JSON text. A failure is a result too, never an exception:
`{"error": {"type", "message", "retryable", "hint"}}`, so the model can decide what to do next.

    type               retried here   retryable for the model
    invalid_arguments  no             no (fix the arguments)
    unknown_tool       no             no (use one of `available_tools`)
    scope_violation    no             no (containerTag may only narrow the request's own scope)
    not_found          no             no (search first)
    timeout            up to 2 times  yes
    backend_error      up to 2 times  yes

Each attempt gets `timeout_per_tool` seconds. `containerTag` narrows and never widens: the request's
scope (`project:shop`) may be narrowed to a sub-scope (`project:shop/deploy`, written `deploy` or in
full), never moved to another scope (`project:other`, `user:bob`, `project:shop/user:bob`).

What the tools return is scrubbed as injection is (`daemon.memory.clean`): a memory stored before a
key was known, or one that quotes a key-shaped string, reaches the model with `[redacted]` in its place.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from daemon.config.settings import ToolExecution
from daemon.errors import MemoryBackendError
from daemon.memory.base import Memory, MemoryBackend
from daemon.memory.clean import scrub
from daemon.tools.schemas import GET_DOCUMENT, MAX_QUERIES, SEARCH, TOOL_NAMES

MAX_ATTEMPTS = 3  # the first try and up to 2 retries
SEARCH_LIMIT = 5  # memories per query
TEXT_LIMIT = 2000  # characters of each memory in a search result; GetDocument returns it whole
QUERY_LIMIT = 1000  # characters of one query
ID_KEYS = ("id", "document_id", "doc_id")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: `arguments` is JSON text (OpenAI) or an object (Anthropic)."""

    id: str
    name: str
    arguments: Any


@dataclass(frozen=True)
class ToolResult:
    """What one call produced: `content` is the JSON text the model gets back."""

    call: ToolCall
    content: str
    is_error: bool
    error_type: str | None
    duration_ms: float
    attempts: int


class ToolFailure(Exception):
    """A structured error result (raised inside this module, returned as a result)."""

    def __init__(self, type: str, message: str, *, retryable: bool, hint: str, **extra: Any) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.retryable = retryable
        self.hint = hint
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        error = {"type": self.type, "message": self.message, "retryable": self.retryable, "hint": self.hint}
        return {"error": {**error, **self.extra}}


def _bad_arguments(message: str, example: str) -> ToolFailure:
    return ToolFailure("invalid_arguments", message, retryable=False, hint=f"call again with arguments like {example}")


_SEARCH_EXAMPLE = '{"query": "deploy schedule"}'
_GET_EXAMPLE = '{"id": "<an id from supermemoryToolSearch>"}'


def parse_arguments(raw: Any, example: str) -> dict[str, Any]:
    """The call's arguments as an object (JSON text is decoded; empty means none)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise _bad_arguments(f"the arguments are not valid JSON ({exc})", example) from None
    if not isinstance(raw, dict):
        raise _bad_arguments(f"the arguments must be a JSON object, not {type(raw).__name__}", example)
    return raw


def search_queries(args: dict[str, Any]) -> list[str]:
    """The 1-5 queries a search asks for (`query`, `queries` or both), stripped and without repeats."""
    found: list[Any] = []
    if "query" in args:
        found.append(args["query"])
    queries = args.get("queries")
    if queries is not None:
        if not isinstance(queries, list):
            raise _bad_arguments("`queries` must be a list of strings", '{"queries": ["deploy", "release"]}')
        found.extend(queries)
    cleaned: list[str] = []
    for query in found:
        if not isinstance(query, str) or not query.strip():
            raise _bad_arguments("every query must be a non-empty string", _SEARCH_EXAMPLE)
        query = query.strip()[:QUERY_LIMIT]
        if query not in cleaned:
            cleaned.append(query)
    if not cleaned:
        raise _bad_arguments("a search needs `query` (a string) or `queries` (a list of strings)", _SEARCH_EXAMPLE)
    if len(cleaned) > MAX_QUERIES:
        raise _bad_arguments(f"at most {MAX_QUERIES} queries per call, got {len(cleaned)}", _SEARCH_EXAMPLE)
    return cleaned


def document_id(args: dict[str, Any]) -> str:
    """The id a GetDocument call names (`id`, or its aliases `document_id`, `doc_id`)."""
    for key in ID_KEYS:
        value = args.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise _bad_arguments("GetDocument needs `id` (a memory id from supermemoryToolSearch)", _GET_EXAMPLE)


def narrow_scope(scope: str, tag: Any) -> str:
    """The scope a search with `containerTag=tag` reads: `scope` itself or a sub-scope of it, never another."""
    if tag is None or (isinstance(tag, str) and not tag.strip()):
        return scope
    if not isinstance(tag, str):
        raise _bad_arguments("`containerTag` must be a string", '{"query": "deploy", "containerTag": "ops"}')
    tag = tag.strip()
    # The scope's own names (`project:shop`, `shop`) mean the whole scope: models like to pass them.
    if tag == scope or tag in {part.split(":", 1)[-1] for part in scope.split("/")}:
        return scope
    rest = tag[len(scope) + 1 :] if tag.startswith(scope + "/") else tag
    if all(_SEGMENT.fullmatch(part) for part in rest.split("/")):
        return f"{scope}/{rest}"
    raise ToolFailure(
        "scope_violation",
        f"containerTag {tag[:80]!r} is outside the memory this request may read; a tag can only narrow it",
        retryable=False,
        hint="leave containerTag out to search this project's memory, or use a plain sub-collection name like 'ops'",
    )


def _search_json(memories: list[Memory], queries: list[str], secrets: tuple[str, ...]) -> dict[str, Any]:
    results = []
    for memory in memories:
        text = scrub(memory.text[:TEXT_LIMIT], secrets)
        item: dict[str, Any] = {"id": memory.id, "text": text, "score": memory.score}
        if len(memory.text) > TEXT_LIMIT:
            item["truncated"] = True
        results.append(item)
    out: dict[str, Any] = {"results": results, "count": len(results)}
    if len(queries) > 1:
        out["queries"] = queries
    if not results:
        out["message"] = "no memories matched; try other words, or answer without memory"
    return out


def _merge(batches: Iterable[list[Memory]], limit: int) -> list[Memory]:
    """One list from several searches: each memory once (its best score), best first."""
    best: dict[str, Memory] = {}
    for batch in batches:
        for memory in batch:
            seen = best.get(memory.id)
            if seen is None or (memory.score or 0.0) > (seen.score or 0.0):
                best[memory.id] = memory
    return sorted(best.values(), key=lambda m: m.score or 0.0, reverse=True)[:limit]


class ToolRunner:
    """Runs the memory tool calls of one request against `backend`, inside `scope`.

    It remembers which sub-scope each search result came from, so GetDocument finds a memory a
    narrowed search returned.
    """

    def __init__(
        self,
        backend: MemoryBackend,
        scope: str,
        settings: ToolExecution,
        *,
        search_limit: int = SEARCH_LIMIT,
        backoff: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
        secrets: Iterable[str] = (),
    ) -> None:
        self.backend = backend
        self.secrets = tuple(secrets)  # the keys the request presented and those the gateway knows
        self.scope = scope
        self.timeout = settings.timeout_per_tool
        self.search_limit = search_limit
        self.backoff = backoff
        self.clock = clock
        self._found_in: dict[str, str] = {}

    async def run_all(self, calls: list[ToolCall]) -> list[ToolResult]:
        """Every call at once; results in the order of `calls`."""
        return list(await asyncio.gather(*(self.run(call) for call in calls)))

    async def run(self, call: ToolCall) -> ToolResult:
        """One call, as a result the model can read (errors included)."""
        started = self.clock()
        attempts = 0
        try:
            if call.name == SEARCH:
                payload, attempts = await self._search(parse_arguments(call.arguments, _SEARCH_EXAMPLE))
            elif call.name == GET_DOCUMENT:
                payload, attempts = await self._get(parse_arguments(call.arguments, _GET_EXAMPLE))
            else:
                raise ToolFailure(
                    "unknown_tool",
                    f"there is no tool named {call.name!r}",
                    retryable=False,
                    hint="use one of the available tools",
                    available_tools=list(TOOL_NAMES),
                )
        except ToolFailure as failure:
            attempts = max(attempts, int(failure.extra.get("attempts", 1)))
            return self._result(call, failure.payload(), started, attempts, failure.type)
        return self._result(call, payload, started, attempts, None)

    def _result(
        self, call: ToolCall, payload: dict[str, Any], started: float, attempts: int, error: str | None
    ) -> ToolResult:
        content = json.dumps(payload, ensure_ascii=False)
        elapsed = (self.clock() - started) * 1000
        return ToolResult(call, content, error is not None, error, elapsed, attempts)

    async def _search(self, args: dict[str, Any]) -> tuple[dict[str, Any], int]:
        queries = search_queries(args)
        scope = narrow_scope(self.scope, args.get("containerTag"))

        async def search() -> list[Memory]:
            batches = await asyncio.gather(*(self.backend.search(scope, q, self.search_limit) for q in queries))
            return _merge(batches, self.search_limit * len(queries))

        memories, attempts = await self._with_retries(search)
        for memory in memories:
            self._found_in[memory.id] = scope
        return _search_json(memories, queries, self.secrets), attempts

    async def _get(self, args: dict[str, Any]) -> tuple[dict[str, Any], int]:
        id = document_id(args)
        scope = self._found_in.get(id, self.scope)
        memory, attempts = await self._with_retries(lambda: self.backend.get(scope, id))
        if memory is None:
            raise ToolFailure(
                "not_found",
                f"no memory with id {id[:80]!r} in this project's memory",
                retryable=False,
                hint=f"search first with {SEARCH} and use an id it returns",
                attempts=attempts,
            )
        text = scrub(memory.text, self.secrets)
        document: dict[str, Any] = {"id": memory.id, "text": text, "created_at": memory.created_at}
        if memory.metadata:
            document["metadata"] = {
                k: scrub(v, self.secrets) if isinstance(v, str) else v for k, v in memory.metadata.items()
            }
        return document, attempts

    async def _with_retries(self, operation: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
        failure: ToolFailure | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await asyncio.wait_for(operation(), self.timeout), attempt
            except TimeoutError:
                failure = self._transient("timeout", f"the memory backend did not answer within {self.timeout:g}s")
            except MemoryBackendError as exc:
                failure = self._transient("backend_error", f"the memory backend failed: {exc}")
            except Exception as exc:  # a backend bug must not fail the request; the model hears of it
                failure = self._transient("backend_error", f"the memory backend failed: {type(exc).__name__}: {exc}")
            if attempt < MAX_ATTEMPTS and self.backoff:
                await asyncio.sleep(self.backoff * attempt)
        assert failure is not None
        failure.extra["attempts"] = MAX_ATTEMPTS
        raise failure

    @staticmethod
    def _transient(type: str, message: str) -> ToolFailure:
        return ToolFailure(
            type,
            message,
            retryable=True,
            hint=f"memproxy already tried {MAX_ATTEMPTS} times; try once more later, or answer without memory",
        )
