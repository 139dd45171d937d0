"""OpenAI Chat Completions: the chat.completion object and the chunks of its stream."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.upstream.rendering.planning import Event, Plan, Usage, call_id, fragments, new_id, sse_data


def _openai_usage(u: Usage) -> dict[str, Any]:
    prompt = u.input + u.cache_read + u.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0},
    }


def chat_completion(p: Plan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": p.text or None, "refusal": None}
    if p.reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id(c, "call_"),
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


def chat_events(p: Plan) -> list[Event]:
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
        return sse_data({**base, "choices": [choice], **extra})

    events: list[Event] = [("frame", chunk({"role": "assistant", "content": ""}))]
    events += [("content", chunk({"content": piece})) for piece in p.pieces]
    for index, call in enumerate(p.reply.tool_calls):
        head = {"index": index, "id": call_id(call, "call_"), "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        events.append(("content", chunk({"tool_calls": [head]})))
        for frag in fragments(json.dumps(call.arguments)):
            events.append(("content", chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})))
    events.append(("tail", chunk({}, "tool_calls" if p.reply.tool_calls else "stop")))
    if p.include_usage:
        events.append(("tail", sse_data({**base, "choices": [], "usage": _openai_usage(p.usage)})))
    events.append(("tail", b"data: [DONE]\n\n"))
    return events
