"""Memory on the request path: retrieve with a bounded wait, then inject. Never fails a request.

The gateway calls `augment()` before the LiteLLM call. A backend that errors or takes longer than
`context_retrieval.timeout` costs the request its memories (logged), never the request itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daemon.dialects import Dialect
from daemon.memory.base import Memory, MemoryBackend
from daemon.memory.clean import scrub
from daemon.memory.freeze import LONG_CONVERSATION_CHARS, Block, FrozenBlocks, texts_of, turn_keys, user_turns
from daemon.memory.injection import inject, inject_at
from daemon.memory.retrieval import (
    build_query,
    conversation,
    format_context,
    last_user_text,
    model_enabled,
    relevant,
    select,
)

if TYPE_CHECKING:
    from daemon.config.settings import ContextRetrieval

log = logging.getLogger("memproxy.memory")


async def retrieve(backend: MemoryBackend, scope: str, query: str, cr: ContextRetrieval) -> list[Memory]:
    """Search `scope` for `query`, waiting at most `cr.timeout` seconds; [] on any failure or timeout."""
    if not query.strip() or cr.max_results <= 0:
        return []
    try:
        async with asyncio.timeout(cr.timeout):  # no task of its own, as wait_for made (~50 µs of the loop)
            return await backend.search(scope, query, cr.max_results)
    except TimeoutError:
        log.warning("memory search in %s took over %.1fs; going on without memory", scope, cr.timeout)
    except Exception as exc:
        log.warning("memory search in %s failed (%s); going on without memory", scope, exc)
    return []


@dataclass(frozen=True)
class Augmented:
    """What memory decided for one request: the body to send upstream, the memories injected into it,
    and the user's question to capture with the answer (None: nothing to capture)."""

    body: dict[str, Any]
    memories: list[Memory] = field(default_factory=list)
    question: str | None = None

    @property
    def hits(self) -> int:
        """How many memories were injected (the databank's `memory_hits`)."""
        return len(self.memories)


async def augment(
    body: dict[str, Any],
    *,
    dialect: Dialect,
    model: str,
    backend: MemoryBackend,
    scope: str,
    cr: ContextRetrieval,
    user_id: str | None = None,
    frozen: FrozenBlocks | None = None,
    secrets: Iterable[str] = (),
) -> Augmented:
    """`body` with the scope's relevant memories injected per `cr` (`body` itself is never modified),
    and the question to capture; memory off for `model` means neither. With `frozen`, each block is
    decided once per conversation turn and repeated in later requests (`daemon.memory.freeze`). No
    key in `secrets`, nor anything shaped like a key, is injected (`daemon.memory.clean`)."""
    if not cr.enabled or not model_enabled(cr.enabled_for_models, model):
        return Augmented(body)
    messages = conversation(body, dialect)
    question = last_user_text(messages, dialect) or None
    texts = texts_of(messages, dialect)  # each message's text, read once
    turns = user_turns(messages, dialect, texts)
    session = backend.for_user(user_id) if user_id else backend

    async def decide() -> Block:
        query = build_query(cr.query_strategy, messages, dialect)
        if not query:
            return Block("")
        found = await retrieve(session, scope, query, cr)
        # word search: a coincidental shared word is no match (Supermemory, and SemanticBackend, judge themselves)
        if cr.backend == "local" and not getattr(session, "filters_itself", False):
            found = relevant(found, query, cr.min_match_ratio)
        chosen = select(found, cr.max_results, cr.max_context_length)
        return Block(scrub(format_context(chosen), secrets), tuple(chosen))

    if frozen is None or not turns:
        block = await decide()
        if not block.context:
            return Augmented(body, question=question)
        injected = inject(body, block.context, cr.injection_strategy, dialect)
        return Augmented(injected, list(block.memories), question)

    # every turn's key in one pass over the conversation (the system strategy uses only the first);
    # a long one is hashed in a worker thread, where sha256 lets go of the GIL (LONG_CONVERSATION_CHARS)
    wanted = turns[:1] if cr.injection_strategy == "system" else turns
    if sum(len(t) for t in texts if t) >= LONG_CONVERSATION_CHARS:
        keys = await asyncio.to_thread(turn_keys, scope, messages, wanted, dialect, texts)
    else:
        keys = turn_keys(scope, messages, wanted, dialect, texts)

    async def block_at(index: int, decide_if_new: bool) -> Block | None:
        key = keys[index]
        found = frozen.get(key)
        if found is None and decide_if_new:
            found = frozen.put(key, await decide())
        return found

    if cr.injection_strategy == "system":  # one block for the whole conversation, from its first turn
        whole = await block_at(turns[0], True)
        if whole is None or not whole.context:
            return Augmented(body, question=question)
        return Augmented(inject(body, whole.context, "system", dialect), list(whole.memories), question)
    placed: dict[int, Block] = {}
    for index in turns:
        found = await block_at(index, index == turns[-1])
        if found is not None and found.context:
            placed[index] = found
    if not placed:
        return Augmented(body, question=question)
    prefix = cr.injection_strategy == "user_prefix"
    injected = inject_at(body, {i: b.context for i, b in placed.items()}, prefix, dialect)
    memories = {m.id: m for b in placed.values() for m in b.memories}
    return Augmented(injected, list(memories.values()), question)
