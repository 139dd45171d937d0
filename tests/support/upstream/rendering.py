"""Pure functions from (request, reply) to the bytes a real provider sends, per route and dialect.

`plan` resolves once per request what every renderer needs; `stream_events` and `answer` render a
generating route (streamed or not); `error_body`, `embeddings` and `models` the other answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
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


def _words(value: Any) -> int:
    """Whitespace-separated words in the prose of a request: our deterministic 'tokenizer'."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    if isinstance(value, dict):
        return sum(_words(v) for k, v in value.items() if k not in _TEXT_SKIP_KEYS)
    return 0


def input_words(body: Any) -> int:
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


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse_data(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def _sse_event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _call_id(call: ToolCall, prefix: str) -> str:
    return call.id or new_id(prefix)


def _signature(p: Plan) -> str:
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
        return dumps({"type": "error", "error": {"type": kind, "message": message}})
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    err_type, code = _OPENAI_ERRORS.get(status, (default_type, None))
    return dumps({"error": {"message": message, "type": type or err_type, "param": None, "code": code}})


def _openai_usage(u: Usage) -> dict[str, Any]:
    prompt = u.input + u.cache_read + u.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0},
    }


def _chat_completion(p: Plan) -> dict[str, Any]:
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
        "id": new_id("chatcmpl-"),
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
        "service_tier": p.usage.service_tier or "default",
    }


def _chat_events(p: Plan) -> list[Event]:
    base = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": p.model,
        "service_tier": p.usage.service_tier or "default",
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


def _anthropic_usage(u: Usage, output: int) -> dict[str, Any]:
    return {
        "input_tokens": u.input,
        "output_tokens": output,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write - u.cache_write_1h,
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        },
        "service_tier": u.service_tier or "standard",
    }


def _message(p: Plan, content: list[dict[str, Any]], stop: str | None, output: int) -> dict[str, Any]:
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": p.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _anthropic_usage(p.usage, output),
    }


def _anthropic_blocks(p: Plan) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if p.reply.thinking is not None:
        blocks.append({"type": "thinking", "thinking": p.reply.thinking, "signature": _signature(p)})
    if p.text:
        blocks.append({"type": "text", "text": p.text})
    for call in p.reply.tool_calls:
        tool_id = _call_id(call, "toolu_")
        blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
    return blocks


def _stop_reason(p: Plan) -> str:
    return "tool_use" if p.reply.tool_calls else "end_turn"


def _anthropic_message(p: Plan) -> dict[str, Any]:
    return _message(p, _anthropic_blocks(p), _stop_reason(p), p.usage.output)


def _anthropic_events(p: Plan) -> list[Event]:
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


def _response_items(p: Plan) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if p.text:
        part = {"type": "output_text", "text": p.text, "annotations": [], "logprobs": []}
        items.append(
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for call in p.reply.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": new_id("fc_"),
                "call_id": _call_id(call, "call_"),
                "name": call.name,
                "arguments": json.dumps(call.arguments),
                "status": "completed",
            }
        )
    return items


def _response(p: Plan, rid: str, items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A Responses API object; ``items=None`` is the in-progress snapshot sent at stream start."""
    u = p.usage
    prompt = u.input + u.cache_read + u.cache_write
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
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
        "service_tier": u.service_tier or "default",
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


def _responses_events(p: Plan) -> list[Event]:
    seq = iter(range(1 << 30))
    rid = new_id("resp_")

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


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
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


def models(anthropic: bool) -> dict[str, Any]:
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


def plan(reply: Reply, body: dict[str, Any], chunks: int | None) -> Plan:
    """Resolve `reply` against the request `body` (model, stream, usage, the text split in `chunks`)."""
    content, pieces = _pieces(reply.text or "", chunks)
    spoken = [content, reply.thinking or ""] + [json.dumps(c.arguments) for c in reply.tool_calls]
    given = reply.usage or {}

    def count(key: str, default: int = 0) -> int:
        value = given.get(key, default)
        return value if isinstance(value, int) else default

    tier = given.get("service_tier")
    usage = Usage(
        input=count("input_tokens", input_words(body)),
        output=count("output_tokens", max(1, _words(spoken))),
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


def stream_events(route: str, p: Plan) -> list[Event]:
    """The SSE events of a streamed answer on a generating route (without the ``/v1`` prefix)."""
    render = {"/chat/completions": _chat_events, "/messages": _anthropic_events}.get(route, _responses_events)
    return render(p)


def answer(route: str, p: Plan) -> bytes:
    """The JSON body of a non-streamed answer on a generating route (without the ``/v1`` prefix)."""
    build = {"/chat/completions": _chat_completion, "/messages": _anthropic_message}.get(route)
    return dumps(build(p) if build else _response(p, new_id("resp_"), _response_items(p)))
