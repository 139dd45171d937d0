"""Per-project memory: backends behind one interface, retrieval and injection, capture.

    base        Memory, MemoryBackend (the interface)
    local       LocalBackend: SQLite FTS5 + bm25 in `paths.memory_db_file` (the default)
    supermemory_backend   SupermemoryBackend: the official SDK, one session per user
    fts         user text → an FTS5 query that cannot be a syntax error
    retrieval   build_query, select, format_context, model_enabled (pure)
    injection   inject_openai, inject_anthropic, inject_at (pure, new bodies)
    freeze      FrozenBlocks: each conversation turn's block, repeated so prompt caches keep hitting
    recall      retrieve (bounded wait, never raises), augment (retrieve + inject for a request)
    capture     exchange_text, Capturer (stores exchanges off the request path)
    clean       what memory never keeps or passes on: keys, its own injected blocks (pure)
    semantic    SemanticBackend: the local store plus embeddings, words and meaning fused by rank (optional)
    uses        UseLog: how often and when each memory went into a request, written off the request path

Importing this package imports neither the Supermemory SDK nor sqlite work: `open_backend` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daemon.memory.base import Memory, MemoryBackend
from daemon.memory.capture import Capturer, exchange_text
from daemon.memory.injection import inject, inject_anthropic, inject_openai
from daemon.memory.recall import Augmented, augment, retrieve
from daemon.memory.retrieval import build_query, format_context, last_user_text, model_enabled, select

if TYPE_CHECKING:
    from daemon.config.settings import Settings

__all__ = [
    "Augmented",
    "Capturer",
    "Memory",
    "MemoryBackend",
    "augment",
    "build_query",
    "exchange_text",
    "format_context",
    "inject",
    "inject_anthropic",
    "inject_openai",
    "last_user_text",
    "model_enabled",
    "open_backend",
    "retrieve",
    "select",
]


def open_backend(settings: Settings) -> MemoryBackend:
    """The backend `context_retrieval.backend` names. Opens nothing yet: connections happen on first use."""
    cr = settings.context_retrieval
    if cr.backend == "supermemory":
        from daemon.memory.supermemory_backend import SupermemoryBackend, SupermemorySessions

        api_key = cr.api_key or settings.tool_execution.supermemory_api_key
        # Searches are already bounded by `cr.timeout`; writes (captures, CLI) get more room.
        sessions = SupermemorySessions(api_key, cr.base_url, timeout=max(10.0, cr.timeout))
        return SupermemoryBackend(sessions)
    from daemon.memory.local import LocalBackend

    return LocalBackend(settings.paths.memory_db_file)
