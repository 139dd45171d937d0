"""A real HTTP server on loopback that speaks the OpenAI and Anthropic wire formats.

Tests point the gateway (LiteLLM ``api_base``) or an official SDK at ``FakeUpstream().url`` and script
what the "provider" answers; nothing is patched, so every byte crosses a real socket::

    with FakeUpstream() as upstream:
        upstream.script(tool_call("get_weather", {"city": "Paris"}), text("Sunny"), error(429))
        ...  # three requests get those three replies, later ones the default text
        assert upstream.last("/v1/messages").headers["x-api-key"] == "sk-test"

Most tests use the session's shared one through the ``fake`` fixture (tests/conftest.py), reset
around each test; ``local_upstream`` is the session's ``LocalUpstream``, fresh for each test too.

Routes (each also without the ``/v1`` prefix): ``POST /v1/chat/completions``, ``/v1/messages``,
``/v1/messages/count_tokens``, ``/v1/embeddings``, ``/v1/responses``, ``/v1/responses/input_tokens``
(OpenAI's token counter) and ``GET /v1/models``, and
Google's ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``; anything else
is a 404 in OpenAI's error format. Only the generating routes consume scripted replies.

Token usage: ``input_tokens`` means *uncached* input, as in Anthropic's API. The OpenAI dialects
report ``prompt_tokens = input + cache_read + cache_write`` with ``cached_tokens = cache_read``.

``python -m tests.support.upstream --port 8901 --chunks 64 --chunk-interval-ms 20`` runs it in the
foreground for benchmarks and manual poking (``python -m tests.fake_upstream`` still does too).

Modules:

- ``replies``: ``Reply`` and the helpers that script one (``text``, ``tool_call``, ``error``, faults).
- ``recording``: ``Recorded``, one request as the fake saw it.
- ``rendering/``: pure functions from (request, reply) to the bytes each route and dialect sends
  (``planning`` what every renderer needs; ``chat``, ``anthropic``, ``responses`` one dialect each;
  ``plain_answers`` error bodies, embeddings, the model list).
- ``server``: ``FakeUpstream``, the uvicorn server in a thread.
- ``gemini``: its Gemini API (``/v1beta/...``): Google's shapes, ``\\r\\n`` SSE, ``x-goog-api-key``.
- ``observing``: ``ObservingUpstream``, which also notes client hang-ups; a truncated stream, a held one.
- ``local``: ``LocalUpstream``, a local model server: Chat Completions only, no key, ``\\r\\n`` line ends.
- ``cli``: ``main`` for ``python -m`` (``--local`` runs a ``LocalUpstream``).
"""

from tests.support.upstream.cli import main
from tests.support.upstream.local import LocalUpstream
from tests.support.upstream.recording import Recorded
from tests.support.upstream.rendering import error_body
from tests.support.upstream.replies import (
    DEFAULT_TEXT,
    Reply,
    ToolCall,
    corrupt_stream,
    cut_stream,
    error,
    malformed_event,
    raw,
    stall,
    stall_mid_stream,
    text,
    thinking,
    tool_call,
    tool_calls,
)
from tests.support.upstream.server import FakeUpstream

__all__ = [
    "DEFAULT_TEXT",
    "FakeUpstream",
    "LocalUpstream",
    "Recorded",
    "Reply",
    "ToolCall",
    "corrupt_stream",
    "cut_stream",
    "error",
    "error_body",
    "main",
    "malformed_event",
    "raw",
    "stall",
    "stall_mid_stream",
    "text",
    "thinking",
    "tool_call",
    "tool_calls",
]
