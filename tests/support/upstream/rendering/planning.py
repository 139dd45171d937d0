"""What every renderer needs: the Plan of one answer (`plan`: model, stream, usage, the text split in
chunks), the deterministic word "tokenizer", ids, JSON and SSE framing."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from tests.support.upstream.replies import Reply, ToolCall

MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-sonnet-4-5", "claude-haiku-4-5")
GARBAGE = b"this is not json {{{"

Dialect = Literal["openai", "anthropic"]
Kind = Literal["frame", "content", "tail"]
Event = tuple[Kind, bytes]


@dataclass(frozen=True)
class Usage:
    input: int
    output: int  # with the reasoning tokens, as OpenAI counts them
    cache_read: int
    cache_write: int  # with the 1-hour writes
    cache_write_1h: int = 0
    reasoning: int = 0
    service_tier: str | None = None  # None: the provider's default ("default" / "standard")


@dataclass(frozen=True)
class Plan:
    """Everything the renderers need, resolved once per request."""

    reply: Reply
    model: str
    stream: bool
    include_usage: bool
    text: str
    pieces: list[str]
    usage: Usage


_TEXT_SKIP_KEYS = frozenset({"role", "type", "id", "tool_call_id", "tool_use_id", "cache_control", "signature"})


def count_words(value: Any) -> int:
    """Whitespace-separated words in the prose of a request: our deterministic 'tokenizer'."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k not in _TEXT_SKIP_KEYS)
    return 0


def input_words(body: Any) -> int:
    if not isinstance(body, dict):
        return 1
    return max(1, count_words(body.get("messages")) + count_words(body.get("system")) + count_words(body.get("input")))


def split_pieces(content: str, chunks: int | None) -> tuple[str, list[str]]:
    """Split text into stream chunks (a word each, leading space kept, as tokenizers do).

    With a fixed chunk count the words are repeated or grouped so the stream has exactly that many
    chunks; the non-stream answer uses the same text so both shapes agree.
    """
    if not content.strip():
        return content, [content] if content else []
    words = re.findall(r"\s*\S+\s*$|\s*\S+", content)
    if chunks is None or chunks < 1 or len(words) == chunks:
        return content, words
    if len(words) < chunks:
        plain = content.split()
        content = " ".join(plain[i % len(plain)] for i in range(chunks))
        words = re.findall(r"\s*\S+", content)
    n = len(words)
    return content, ["".join(words[i * n // chunks : (i + 1) * n // chunks]) for i in range(chunks)]


def fragments(data: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(data) // parts))
    return [data[i : i + size] for i in range(0, len(data), size)]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sse_data(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def sse_event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def call_id(call: ToolCall, prefix: str) -> str:
    return call.id or new_id(prefix)


def plan(reply: Reply, body: dict[str, Any], chunks: int | None) -> Plan:
    """Resolve `reply` against the request `body` (model, stream, usage, the text split in `chunks`)."""
    content, pieces = split_pieces(reply.text or "", chunks)
    spoken = [content, reply.thinking or ""] + [json.dumps(c.arguments) for c in reply.tool_calls]
    given = reply.usage or {}

    def count(key: str, default: int = 0) -> int:
        value = given.get(key, default)
        return value if isinstance(value, int) else default

    tier = given.get("service_tier")
    usage = Usage(
        input=count("input_tokens", input_words(body)),
        output=count("output_tokens", max(1, count_words(spoken))),
        cache_read=count("cache_read_tokens"),
        cache_write=count("cache_write_tokens"),
        cache_write_1h=count("cache_write_1h_tokens"),
        reasoning=count("reasoning_tokens"),
        service_tier=tier if isinstance(tier, str) else None,
    )
    options = body.get("stream_options") or {}
    return Plan(
        reply=reply,
        model=str(body.get("model", "fake-model")),
        stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
        text=content,
        pieces=pieces,
        usage=usage,
    )
