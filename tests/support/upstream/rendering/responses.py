"""The OpenAI Responses API: the response object (message and function_call items) and its events,
numbered by sequence_number."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.upstream.rendering.planning import Event, Kind, Plan, call_id, fragments, new_id, sse_event


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
                "call_id": call_id(call, "call_"),
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


def responses_events(p: Plan) -> list[Event]:
    seq = iter(range(1 << 30))
    rid = new_id("resp_")

    def ev(kind: Kind, name: str, **data: Any) -> Event:
        return kind, sse_event(name, {"type": name, "sequence_number": next(seq), **data})

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
            for frag in fragments(item["arguments"]):
                events.append(ev("content", "response.function_call_arguments.delta", **where, delta=frag))
            args = item["arguments"]
            events.append(ev("frame", "response.function_call_arguments.done", **where, arguments=args))
        events.append(ev("frame", "response.output_item.done", output_index=out, item=item))
    events.append(ev("tail", "response.completed", response=_response(p, rid, items)))
    return events


def response_answer(p: Plan) -> dict[str, Any]:
    """The completed response object of a non-streamed answer."""
    return _response(p, new_id("resp_"), _response_items(p))
