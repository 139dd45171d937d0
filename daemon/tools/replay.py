"""A finished, non-streamed answer replayed as the stream a streaming client expects.

The tool loop runs upstream without streaming; a client that asked for a stream then gets the final
answer in its own dialect's stream shape, which the official SDKs accumulate back into the same
message:

- OpenAI: `chat.completion.chunk` SSE (`data: {...}`), a usage chunk when asked, `data: [DONE]`;
- Anthropic: typed events `message_start`, per block `content_block_start` / `_delta` / `_stop`
  (text_delta, thinking_delta + signature_delta, input_json_delta for tool_use), `message_delta`
  with stop_reason and usage, `message_stop`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _data(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


def _event(name: str, **fields: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps({"type": name, **fields}) + b"\n\n"


async def replay_openai(response: dict[str, Any], include_usage: bool = False) -> AsyncIterator[bytes]:
    """`response` (a chat.completion dict) as chat.completion.chunk SSE ending with `data: [DONE]`."""
    base: dict[str, Any] = {
        "id": response.get("id") or f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": response.get("created") or int(time.time()),
        "model": response.get("model") or "",
    }
    if response.get("system_fingerprint"):
        base["system_fingerprint"] = response["system_fingerprint"]

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _data({**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})

    for position, choice in enumerate(response.get("choices") or []):
        index = choice.get("index", position)
        message = choice.get("message") or {}
        yield chunk(index, {"role": "assistant", "content": ""})
        for key in ("reasoning_content", "content", "refusal"):
            value = message.get(key)
            if isinstance(value, str) and value:
                yield chunk(index, {key: value})
        for call_index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            arguments = function.get("arguments")
            head = {
                "index": call_index,
                "id": call.get("id"),
                "type": call.get("type") or "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
                },
            }
            yield chunk(index, {"tool_calls": [head]})
        yield chunk(index, {}, choice.get("finish_reason") or "stop")
    if include_usage and response.get("usage") is not None:
        yield _data({**base, "choices": [], "usage": response["usage"]})
    yield b"data: [DONE]\n\n"


async def replay_anthropic(message: dict[str, Any]) -> AsyncIterator[bytes]:
    """`message` (an Anthropic message dict) as Anthropic's typed stream events."""
    usage = dict(message.get("usage") or {})
    start: dict[str, Any] = {
        "id": message.get("id") or f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": message.get("model") or "",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    yield _event("message_start", message=start)
    for index, block in enumerate(message.get("content") or []):
        for event in _block_events(index, block):
            yield event
    # message_delta usage is cumulative: it carries the final output count and repeats the input side
    yield _event(
        "message_delta",
        delta={"stop_reason": message.get("stop_reason") or "end_turn", "stop_sequence": message.get("stop_sequence")},
        usage=usage or {"output_tokens": 0},
    )
    yield _event("message_stop")


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    kind = block.get("type")
    events: list[bytes] = []

    def delta(**fields: Any) -> None:
        events.append(_event("content_block_delta", index=index, delta=fields))

    if kind == "text":
        events.append(_event("content_block_start", index=index, content_block={"type": "text", "text": ""}))
        if block.get("text"):
            delta(type="text_delta", text=block["text"])
    elif kind == "thinking":
        empty = {"type": "thinking", "thinking": "", "signature": ""}
        events.append(_event("content_block_start", index=index, content_block=empty))
        if block.get("thinking"):
            delta(type="thinking_delta", thinking=block["thinking"])
        if block.get("signature"):
            delta(type="signature_delta", signature=block["signature"])
    elif kind in _INPUT_BLOCKS:
        head = {**block, "input": {}}
        events.append(_event("content_block_start", index=index, content_block=head))
        delta(type="input_json_delta", partial_json=json.dumps(block.get("input") or {}, ensure_ascii=False))
    else:  # redacted_thinking, server tool results, ...: whole in the start event, as the API sends them
        events.append(_event("content_block_start", index=index, content_block=block))
    events.append(_event("content_block_stop", index=index))
    return events
