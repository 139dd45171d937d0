"""Anthropic Messages: the message object (thinking, text and tool_use blocks) and its event stream."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tests.support.upstream.rendering.planning import (
    Event,
    Kind,
    Plan,
    Usage,
    call_id,
    fragments,
    new_id,
    split_pieces,
    sse_event,
)


def _signature(p: Plan) -> str:
    if p.reply.signature is not None:
        return p.reply.signature
    return base64.b64encode(hashlib.sha256((p.reply.thinking or "").encode()).digest()).decode()


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
        tool_id = call_id(call, "toolu_")
        blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
    return blocks


def _stop_reason(p: Plan) -> str:
    return "tool_use" if p.reply.tool_calls else "end_turn"


def anthropic_message(p: Plan) -> dict[str, Any]:
    return _message(p, _anthropic_blocks(p), _stop_reason(p), p.usage.output)


def anthropic_events(p: Plan) -> list[Event]:
    def ev(kind: Kind, name: str, **data: Any) -> Event:
        return kind, sse_event(name, {"type": name, **data})

    events = [ev("frame", "message_start", message=_message(p, [], None, 1)), ev("frame", "ping")]
    for index, block in enumerate(_anthropic_blocks(p)):
        start: dict[str, Any]
        deltas: list[dict[str, Any]]
        if block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": s} for s in split_pieces(block["thinking"], None)[1]]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in p.pieces]
        else:
            start = {**block, "input": {}}
            frags = fragments(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": frag} for frag in frags]
        events.append(ev("frame", "content_block_start", index=index, content_block=start))
        events += [ev("content", "content_block_delta", index=index, delta=d) for d in deltas]
        events.append(ev("frame", "content_block_stop", index=index))
    stop = {"stop_reason": _stop_reason(p), "stop_sequence": None}
    events.append(ev("tail", "message_delta", delta=stop, usage={"output_tokens": p.usage.output}))
    events.append(ev("tail", "message_stop"))
    return events
