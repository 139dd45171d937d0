"""A real HTTP server on loopback that speaks the OpenAI and Anthropic wire formats.

Tests point the gateway (LiteLLM ``api_base``) or an official SDK at ``FakeUpstream().url`` and script
what the "provider" answers; nothing is patched, so every byte crosses a real socket::

    with FakeUpstream() as upstream:
        upstream.script(tool_call("get_weather", {"city": "Paris"}), text("Sunny"), error(429))
        ...  # three requests get those three replies, later ones the default text
        assert upstream.last("/v1/messages").headers["x-api-key"] == "sk-test"

Routes (each also without the ``/v1`` prefix): ``POST /v1/chat/completions``, ``/v1/messages``,
``/v1/messages/count_tokens``, ``/v1/embeddings``, ``/v1/responses`` and ``GET /v1/models``; anything
else is a 404 in OpenAI's error format. Only the three generating routes consume scripted replies.

Token usage: ``input_tokens`` means *uncached* input, as in Anthropic's API. The OpenAI dialects
report ``prompt_tokens = input + cache_read + cache_write`` with ``cached_tokens = cache_read``.

``python -m tests.fake_upstream --port 8901 --chunks 64 --chunk-interval-ms 20`` runs it in the
foreground for benchmarks and manual poking.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

import uvicorn

DEFAULT_TEXT = "Hello from the fake upstream"
USAGE_KEYS = frozenset({"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"})
MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-sonnet-4-5", "claude-haiku-4-5")
GARBAGE = b"this is not json {{{"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Dialect = Literal["openai", "anthropic"]
Kind = Literal["frame", "content", "tail"]
Event = tuple[Kind, bytes]


# --- replies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One function/tool call the fake model makes."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the fake provider does with one request; build it with the helpers below."""

    text: str | None = DEFAULT_TEXT
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str | None = None
    signature: str | None = None
    usage: Mapping[str, int] | None = None
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_seconds: float = 0.0
    fault: Literal["stall", "cut", "corrupt"] | None = None
    fault_after: int = 0
    fault_seconds: float = 0.0

    def __post_init__(self) -> None:
        unknown = set(self.usage or ()) - USAGE_KEYS
        if unknown:
            raise ValueError(f"unknown usage keys {sorted(unknown)}; use {sorted(USAGE_KEYS)}")


def text(content: str = DEFAULT_TEXT, *, usage: Mapping[str, int] | None = None) -> Reply:
    """An assistant text answer."""
    return Reply(text=content, usage=usage)


def tool_calls(
    calls: Iterable[tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str] | ToolCall],
    *,
    text: str | None = None,
    usage: Mapping[str, int] | None = None,
) -> Reply:
    """Several tool calls in one answer, optionally after some text."""
    built = tuple(c if isinstance(c, ToolCall) else ToolCall(*c) for c in calls)
    return Reply(text=text, tool_calls=built, usage=usage)


def tool_call(
    name: str,
    arguments: dict[str, Any] | None = None,
    id: str | None = None,
    *,
    text: str | None = None,
    usage: Mapping[str, int] | None = None,
) -> Reply:
    """The model calls one tool."""
    return tool_calls([ToolCall(name, arguments or {}, id)], text=text, usage=usage)


def thinking(
    reasoning: str,
    then: str = DEFAULT_TEXT,
    *,
    signature: str | None = None,
    usage: Mapping[str, int] | None = None,
) -> Reply:
    """An Anthropic thinking block followed by text (the OpenAI dialects send only the text)."""
    return Reply(text=then, thinking=reasoning, signature=signature, usage=usage)


def error(
    status: int, message: str | None = None, type: str | None = None, headers: Mapping[str, str] | None = None
) -> Reply:
    """The provider's error body in the route's dialect; a 429 gets ``retry-after: 1`` unless told."""
    if headers is None:
        headers = {"retry-after": "1"} if status == 429 else {}
    return Reply(text=None, status=status, error_message=message, error_type=type, headers=headers)


def stall(seconds: float, then: Reply | None = None) -> Reply:
    """Wait before sending any header (for client and gateway timeouts)."""
    return replace(then or Reply(), stall_seconds=seconds)


def stall_mid_stream(after_chunks: int, seconds: float, then: Reply | None = None) -> Reply:
    """Send ``after_chunks`` content chunks, go quiet for ``seconds``, then finish normally."""
    return replace(then or Reply(), fault="stall", fault_after=after_chunks, fault_seconds=seconds)


def cut_stream(after_chunks: int, then: Reply | None = None) -> Reply:
    """Send ``after_chunks`` content chunks, then drop the connection before the final events."""
    return replace(then or Reply(), fault="cut", fault_after=after_chunks)


def corrupt_stream(after_chunks: int, then: Reply | None = None) -> Reply:
    """Send ``after_chunks`` content chunks, then a non-JSON data line, then drop the connection."""
    return replace(then or Reply(), fault="corrupt", fault_after=after_chunks)


# --- recording -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    query: str = ""


# --- rendering: pure functions from (request, reply) to bytes ------------------------------------


@dataclass(frozen=True)
class _Usage:
    input: int
    output: int
    cache_read: int
    cache_write: int


@dataclass(frozen=True)
class _Plan:
    """Everything the renderers need, resolved once per request."""

    reply: Reply
    model: str
    stream: bool
    include_usage: bool
    text: str
    pieces: list[str]
    usage: _Usage


_TEXT_SKIP_KEYS = frozenset({"role", "type", "id", "tool_call_id", "tool_use_id", "cache_control", "signature"})


def _words(value: Any) -> int:
    """Whitespace-separated words in the prose of a request: our deterministic 'tokenizer'."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    if isinstance(value, dict):
        return sum(_words(v) for k, v in value.items() if k not in _TEXT_SKIP_KEYS)
    return 0


def _input_words(body: Any) -> int:
    if not isinstance(body, dict):
        return 1
    return max(1, _words(body.get("messages")) + _words(body.get("system")) + _words(body.get("input")))


def _pieces(content: str, chunks: int | None) -> tuple[str, list[str]]:
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


def _fragments(data: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(data) // parts))
    return [data[i : i + size] for i in range(0, len(data), size)]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse_data(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


def _sse_event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(obj) + b"\n\n"


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _call_id(call: ToolCall, prefix: str) -> str:
    return call.id or _new_id(prefix)


def _signature(p: _Plan) -> str:
    if p.reply.signature is not None:
        return p.reply.signature
    return base64.b64encode(hashlib.sha256((p.reply.thinking or "").encode()).digest()).decode()


_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(dialect: Dialect, status: int, message: str | None = None, type: str | None = None) -> bytes:
    """The JSON error body a real provider sends for this status."""
    message = message or f"Fake upstream: HTTP {status}"
    if dialect == "anthropic":
        default = "api_error" if status >= 500 else "invalid_request_error"
        kind = type or _ANTHROPIC_ERRORS.get(status, default)
        return _dumps({"type": "error", "error": {"type": kind, "message": message}})
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    err_type, code = _OPENAI_ERRORS.get(status, (default_type, None))
    return _dumps({"error": {"message": message, "type": type or err_type, "param": None, "code": code}})


def _openai_usage(u: _Usage) -> dict[str, Any]:
    prompt = u.input + u.cache_read + u.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chat_completion(p: _Plan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": p.text or None, "refusal": None}
    if p.reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(c, "call_"),
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in p.reply.tool_calls
        ]
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": p.model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if p.reply.tool_calls else "stop",
            }
        ],
        "usage": _openai_usage(p.usage),
    }


def _chat_events(p: _Plan) -> list[Event]:
    base = {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": p.model,
        "system_fingerprint": "fp_fake",
    }
    # Real OpenAI puts "usage": null on every chunk once include_usage is on.
    extra = {"usage": None} if p.include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse_data({**base, "choices": [choice], **extra})

    events: list[Event] = [("frame", chunk({"role": "assistant", "content": ""}))]
    events += [("content", chunk({"content": piece})) for piece in p.pieces]
    for index, call in enumerate(p.reply.tool_calls):
        head = {"index": index, "id": _call_id(call, "call_"), "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        events.append(("content", chunk({"tool_calls": [head]})))
        for frag in _fragments(json.dumps(call.arguments)):
            events.append(("content", chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})))
    events.append(("tail", chunk({}, "tool_calls" if p.reply.tool_calls else "stop")))
    if p.include_usage:
        events.append(("tail", _sse_data({**base, "choices": [], "usage": _openai_usage(p.usage)})))
    events.append(("tail", b"data: [DONE]\n\n"))
    return events


def _anthropic_usage(u: _Usage, output: int) -> dict[str, Any]:
    return {
        "input_tokens": u.input,
        "output_tokens": output,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
    }


def _message(p: _Plan, content: list[dict[str, Any]], stop: str | None, output: int) -> dict[str, Any]:
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": p.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _anthropic_usage(p.usage, output),
    }


def _anthropic_blocks(p: _Plan) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if p.reply.thinking is not None:
        blocks.append({"type": "thinking", "thinking": p.reply.thinking, "signature": _signature(p)})
    if p.text:
        blocks.append({"type": "text", "text": p.text})
    for call in p.reply.tool_calls:
        tool_id = _call_id(call, "toolu_")
        blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
    return blocks


def _stop_reason(p: _Plan) -> str:
    return "tool_use" if p.reply.tool_calls else "end_turn"


def _anthropic_message(p: _Plan) -> dict[str, Any]:
    return _message(p, _anthropic_blocks(p), _stop_reason(p), p.usage.output)


def _anthropic_events(p: _Plan) -> list[Event]:
    def ev(kind: Kind, name: str, **data: Any) -> Event:
        return kind, _sse_event(name, {"type": name, **data})

    events = [ev("frame", "message_start", message=_message(p, [], None, 1)), ev("frame", "ping")]
    for index, block in enumerate(_anthropic_blocks(p)):
        start: dict[str, Any]
        deltas: list[dict[str, Any]]
        if block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": s} for s in _pieces(block["thinking"], None)[1]]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in p.pieces]
        else:
            start = {**block, "input": {}}
            frags = _fragments(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": frag} for frag in frags]
        events.append(ev("frame", "content_block_start", index=index, content_block=start))
        events += [ev("content", "content_block_delta", index=index, delta=d) for d in deltas]
        events.append(ev("frame", "content_block_stop", index=index))
    stop = {"stop_reason": _stop_reason(p), "stop_sequence": None}
    events.append(ev("tail", "message_delta", delta=stop, usage={"output_tokens": p.usage.output}))
    events.append(ev("tail", "message_stop"))
    return events


def _response_items(p: _Plan) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if p.text:
        part = {"type": "output_text", "text": p.text, "annotations": [], "logprobs": []}
        items.append(
            {
                "type": "message",
                "id": _new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for call in p.reply.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": _new_id("fc_"),
                "call_id": _call_id(call, "call_"),
                "name": call.name,
                "arguments": json.dumps(call.arguments),
                "status": "completed",
            }
        )
    return items


def _response(p: _Plan, rid: str, items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A Responses API object; ``items=None`` is the in-progress snapshot sent at stream start."""
    u = p.usage
    prompt = u.input + u.cache_read + u.cache_write
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + u.output,
    }
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress" if items is None else "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": p.model,
        "output": items or [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None if items is None else usage,
        "metadata": {},
    }


def _responses_events(p: _Plan) -> list[Event]:
    seq = iter(range(1 << 30))
    rid = _new_id("resp_")

    def ev(kind: Kind, name: str, **data: Any) -> Event:
        return kind, _sse_event(name, {"type": name, "sequence_number": next(seq), **data})

    items = _response_items(p)
    snapshot = _response(p, rid, None)
    events = [ev("frame", "response.created", response=snapshot)]
    events.append(ev("frame", "response.in_progress", response=snapshot))
    for out, item in enumerate(items):
        where = {"output_index": out, "item_id": item["id"]}
        if item["type"] == "message":
            events.append(ev("frame", "response.output_item.added", output_index=out, item={**item, "content": []}))
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(ev("frame", "response.content_part.added", **where, content_index=0, part=empty))
            for piece in p.pieces:
                delta = ev(
                    "content",
                    "response.output_text.delta",
                    **where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
                events.append(delta)
            events.append(ev("frame", "response.output_text.done", **where, content_index=0, text=p.text, logprobs=[]))
            part = item["content"][0]
            events.append(ev("frame", "response.content_part.done", **where, content_index=0, part=part))
        else:
            started = {**item, "arguments": "", "status": "in_progress"}
            events.append(ev("frame", "response.output_item.added", output_index=out, item=started))
            for frag in _fragments(item["arguments"]):
                events.append(ev("content", "response.function_call_arguments.delta", **where, delta=frag))
            args = item["arguments"]
            events.append(ev("frame", "response.function_call_arguments.done", **where, arguments=args))
        events.append(ev("frame", "response.output_item.done", output_index=out, item=item))
    events.append(ev("tail", "response.completed", response=_response(p, rid, items)))
    return events


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic small vectors: the same input always gets the same embedding."""
    raw_input = body.get("input", "")
    inputs = [raw_input] if isinstance(raw_input, str) or (raw_input and isinstance(raw_input[0], int)) else raw_input
    dims = int(body.get("dimensions") or 8)
    data = []
    for index, item in enumerate(inputs):
        digest = hashlib.shake_256(json.dumps(item).encode()).digest(dims)
        vector = [round(b / 127.5 - 1.0, 6) for b in digest]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":  # the openai SDK asks for this by default
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = max(1, sum(_words(i) if isinstance(i, str) else len(i) for i in inputs))
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.get("model", MODELS[2]), "usage": usage}


def _models(anthropic: bool) -> dict[str, Any]:
    data: list[dict[str, Any]]
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in MODELS
            if m.startswith("claude")
        ]
        return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"} for m in MODELS]
    return {"object": "list", "data": data}


# --- the server ----------------------------------------------------------------------------------


class _Disconnect(Exception):
    """Raised inside the app to make uvicorn drop the connection mid-response, on purpose."""


class _QuietDeliberate(logging.Filter):
    """Keep uvicorn from printing tracebacks for connections we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _Disconnect | asyncio.CancelledError)


_GENERATING = frozenset({"/chat/completions", "/messages", "/responses"})


class FakeUpstream:
    """An OpenAI + Anthropic impersonator on 127.0.0.1, run by uvicorn in a daemon thread.

    ``latency_ms`` delays every generation and embedding; ``chunks`` fixes the number of content
    chunks in a stream (default: one a word); ``chunk_interval_ms`` spaces them; ``require_key``
    turns on a 401 for any other key; ``default`` answers when nothing is scripted; ``record=False``
    keeps long benchmark runs from growing ``requests``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: float = 0,
        chunks: int | None = None,
        chunk_interval_ms: float = 0,
        require_key: str | None = None,
        default: Reply | None = None,
        record: bool = True,
    ) -> None:
        # Plain attributes, read on every request, so a test or benchmark may change them live.
        self.latency_ms = latency_ms
        self.chunks = chunks
        self.chunk_interval_ms = chunk_interval_ms
        self.require_key = require_key
        self.default = default or Reply()
        self.record = record
        self.requests: list[Recorded] = []
        self._port = port
        self._script: deque[Reply] = deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[Any]] = set()

    # -- public API --

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; the port is known once ``start()`` has bound it."""
        if not self._port:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://127.0.0.1:{self._port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next generating requests, first in first out."""
        self._script.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._script)

    def last(self, path: str | None = None) -> Recorded:
        """The most recent request (for ``path`` if given); AssertionError when there is none."""
        for rec in reversed(self.requests[:]):
            if path is None or rec.path == path:
                return rec
        raise AssertionError(f"no request recorded for {path or 'any path'}")

    def clear(self) -> None:
        """Forget the recorded requests."""
        self.requests.clear()

    def reset(self) -> None:
        """Forget recorded requests and any scripted replies not used yet."""
        self.requests.clear()
        self._script.clear()

    def start(self) -> FakeUpstream:
        """Bind a port and serve in a background thread; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        sock = self._bind()
        server = self._server = uvicorn.Server(self._config())
        self._thread = threading.Thread(target=self._run, args=(sock,), name="fake-upstream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; requests still in flight (a long stall, say) are cancelled."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        server.should_exit = True
        server.force_exit = True  # do not wait for stalled requests to finish
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may close between check and call
                loop.call_soon_threadsafe(self._cancel_inflight)
        thread.join(timeout=10)
        self._server = self._thread = self._loop = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM (for ``python -m``)."""
        sock = self._bind()
        print(f"fake upstream listening on {self.url}", flush=True)
        self._server = uvicorn.Server(self._config())
        self._run(sock)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- plumbing --

    def _bind(self) -> socket.socket:
        # Bind-and-hold: we own the socket, so the port is ours before uvicorn starts.
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
        # socket says so; with proto 0 every keep-alive response waits ~40 ms on Nagle + delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        sock.listen(1024)
        self._port = sock.getsockname()[1]
        return sock

    def _config(self) -> uvicorn.Config:
        logger = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietDeliberate) for f in logger.filters):
            logger.addFilter(_QuietDeliberate())
        return uvicorn.Config(
            self._asgi,
            loop="asyncio",
            http="httptools",
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            log_config=None,  # leave the host process's logging configuration alone
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
            # providers keep idle connections for minutes; a short server-side expiry races clients'
            # pools into "connection reset" on reuse, a failure real providers don't cause
            timeout_keep_alive=120,
        )

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            assert self._server is not None
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    def _cancel_inflight(self) -> None:
        for task in list(self._inflight):
            task.cancel()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._handle(scope, receive, send)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if self.record:
            query = scope.get("query_string", b"").decode("latin-1")
            self.requests.append(Recorded(method, path, headers, body, bytes(raw), query))

        route = path.rstrip("/").removeprefix("/v1")
        dialect: Dialect = "anthropic" if route.startswith("/messages") else "openai"
        known = route in _GENERATING or route in {"/messages/count_tokens", "/embeddings", "/models"}
        if not known or method != ("GET" if route == "/models" else "POST"):
            err = {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error"}
            return await _send_json(send, 404, _dumps({"error": {**err, "param": None, "code": None}}), dialect)
        if not self._authorized(headers):
            message_401 = "invalid x-api-key" if dialect == "anthropic" else "Incorrect API key provided."
            return await _send_json(send, 401, error_body(dialect, 401, message_401), dialect)
        if route == "/models":
            return await _send_json(send, 200, _dumps(_models("anthropic-version" in headers)), dialect)
        if not isinstance(body, dict):
            return await _send_json(send, 400, error_body(dialect, 400, "Request body must be JSON"), dialect)
        if route == "/messages/count_tokens":
            return await _send_json(send, 200, _dumps({"input_tokens": _input_words(body)}), dialect)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if route == "/embeddings":
            return await _send_json(send, 200, _dumps(_embeddings(body)), dialect)

        try:
            reply = self._script.popleft()
        except IndexError:  # nothing scripted (a test thread may reset() at any moment)
            reply = self.default
        if reply.stall_seconds:
            await asyncio.sleep(reply.stall_seconds)
        if reply.status >= 400:
            payload = error_body(dialect, reply.status, reply.error_message, reply.error_type)
            return await _send_json(send, reply.status, payload, dialect, reply.headers)
        plan = self._plan(reply, body)
        if plan.stream:
            render = {"/chat/completions": _chat_events, "/messages": _anthropic_events}.get(route, _responses_events)
            return await self._send_stream(send, render(plan), plan, dialect)
        build = {"/chat/completions": _chat_completion, "/messages": _anthropic_message}.get(route)
        payload = _dumps(build(plan) if build else _response(plan, _new_id("resp_"), _response_items(plan)))
        if reply.fault == "corrupt":
            payload = GARBAGE
        elif reply.fault is not None:  # non-stream: send half the body, then stall or drop
            await _start(send, 200, "application/json", dialect, reply.headers, len(payload))
            half = len(payload) // 2
            await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
            if reply.fault == "cut":
                raise _Disconnect
            await asyncio.sleep(reply.fault_seconds)
            return await send({"type": "http.response.body", "body": payload[half:]})
        await _send_json(send, 200, payload, dialect, reply.headers)

    def _authorized(self, headers: dict[str, str]) -> bool:
        key = self.require_key
        if key is None:
            return True
        return key in (headers.get("x-api-key"), headers.get("api-key")) or headers.get("authorization") == (
            f"Bearer {key}"
        )

    def _plan(self, reply: Reply, body: dict[str, Any]) -> _Plan:
        content, pieces = _pieces(reply.text or "", self.chunks)
        spoken = [content, reply.thinking or ""] + [json.dumps(c.arguments) for c in reply.tool_calls]
        given = reply.usage or {}
        usage = _Usage(
            input=given.get("input_tokens", _input_words(body)),
            output=given.get("output_tokens", max(1, _words(spoken))),
            cache_read=given.get("cache_read_tokens", 0),
            cache_write=given.get("cache_write_tokens", 0),
        )
        options = body.get("stream_options") or {}
        return _Plan(
            reply=reply,
            model=str(body.get("model", "fake-model")),
            stream=bool(body.get("stream")),
            include_usage=bool(options.get("include_usage")),
            text=content,
            pieces=pieces,
            usage=usage,
        )

    async def _send_stream(self, send: Send, events: list[Event], plan: _Plan, dialect: Dialect) -> None:
        reply = plan.reply
        await _start(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
        fault, sent, gap = reply.fault, 0, self.chunk_interval_ms / 1000
        for kind, data in events:
            if fault is not None and (kind == "tail" or (kind == "content" and sent == reply.fault_after)):
                if fault == "cut":
                    raise _Disconnect
                if fault == "corrupt":
                    prefix = b"event: content_block_delta\n" if dialect == "anthropic" else b""
                    await send({"type": "http.response.body", "body": prefix + b"data: " + GARBAGE + b"\n\n"})
                    raise _Disconnect
                await asyncio.sleep(reply.fault_seconds)
                fault = None
            if kind == "content":
                if sent and gap:
                    await asyncio.sleep(gap)
                sent += 1
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _start(
    send: Send,
    status: int,
    content_type: str,
    dialect: Dialect,
    extra: Mapping[str, str] | None = None,
    length: int | None = None,
) -> None:
    request_id = "request-id" if dialect == "anthropic" else "x-request-id"
    headers = [(b"content-type", content_type.encode()), (request_id.encode(), _new_id("req_").encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _send_json(
    send: Send, status: int, payload: bytes, dialect: Dialect, extra: Mapping[str, str] | None = None
) -> None:
    await _start(send, status, "application/json", dialect, extra, len(payload))
    await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_upstream", description="Fake OpenAI + Anthropic upstream."
    )
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before each answer")
    parser.add_argument("--chunks", type=int, default=None, help="content chunks per stream (default: one a word)")
    parser.add_argument("--chunk-interval-ms", type=float, default=0, help="gap between stream chunks")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the answer text")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this API key is sent")
    args = parser.parse_args(argv)
    upstream = FakeUpstream(
        port=args.port,
        latency_ms=args.latency_ms,
        chunks=args.chunks,
        chunk_interval_ms=args.chunk_interval_ms,
        require_key=args.require_key,
        default=text(args.text),
        record=False,  # nobody can read them, and a long benchmark would grow without bound
    )
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal; Ctrl-C should not print a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        upstream.serve_forever()


if __name__ == "__main__":
    main()
