"""`LocalUpstream`: the fake as a local model server (Ollama, vLLM, LM Studio, llama.cpp) behaves.

Such a server speaks only Chat Completions under ``/v1``: ``POST /v1/chat/completions``,
``POST /v1/embeddings`` and ``GET /v1/models``; anything else (``/v1/responses``, ``/v1/messages``, a
path without ``/v1``) is a 404 with FastAPI's ``{"detail": "Not Found"}``, as vLLM answers. It needs
no key (any or none is accepted), ends its SSE lines with ``\\r\\n`` as sse-starlette does by default,
and reports usage in a stream only when ``stream_options.include_usage`` asks for it.
"""

from __future__ import annotations

from typing import Any

from tests.support.upstream.observing import ObservingUpstream
from tests.support.upstream.server import Receive, Scope, Send, send_json

LOCAL_ROUTES = frozenset({("POST", "/v1/chat/completions"), ("POST", "/v1/embeddings"), ("GET", "/v1/models")})
NOT_FOUND = b'{"detail":"Not Found"}'


class LocalUpstream(ObservingUpstream):
    """The fake upstream (hang-ups noted, faults scriptable) as a local Chat Completions server."""

    line_end = b"\r\n"

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("require_key") is not None:
            raise ValueError("a local server needs no key")
        super().__init__(**kwargs)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["method"], scope["path"].rstrip("/")) in LOCAL_ROUTES:
            return await super()._handle(scope, receive, send)
        if await self._receive(scope, receive) is not None:
            await send_json(send, 404, NOT_FOUND, "openai")
