"""Request bodies for the overhead benchmark, generated (deterministic), the sizes real tools send.

- `claude_code`: a Claude-Code-sized `/v1/messages` body (~176 KB): 24 tools with JSON schemas,
  system blocks with `cache_control`, a long history of tool_use / tool_result turns, an image
  as base64.
- `long_chat`: a long OpenAI Chat Completions body (~150 KB): tools, a long history with
  tool calls and their results.
- `codex`: a Codex-CLI-sized `/v1/responses` body (~110 KB).
- `small_chat` / `small_messages`: one short user turn in either dialect.

Each returns the body as a dict; `encoded` gives the bytes sent (encoded once, so the load
generator spends nothing on JSON per request).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

Maker = Callable[..., dict[str, Any]]

_VOCABULARY = """the file function returns value error test module import class config request stream token
project memory cache router deployment handler parse write read line path build check run"""
_WORDS = _VOCABULARY.split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _schema(rng: random.Random, i: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        f"arg_{i}_{k}": {"type": rng.choice(["string", "integer", "boolean"]), "description": _text(rng, 18)}
        for k in range(6)
    }
    props["options"] = {"type": "object", "properties": {"mode": {"type": "string", "enum": ["a", "b", "c"]}}}
    return {"type": "object", "properties": props, "required": list(props)[:2], "additionalProperties": False}


def _code(rng: random.Random, lines: int) -> str:
    return "\n".join(f"    {_text(rng, 9)}  # {rng.randrange(10**6)}" for _ in range(lines))


def claude_code(model: str = "claude-sonnet-4-5", *, stream: bool = False) -> dict[str, Any]:
    """A body the size and shape of a Claude Code turn (~176 KB)."""
    rng = random.Random(17)
    tools = [{"name": f"tool_{i}", "description": _text(rng, 120), "input_schema": _schema(rng, i)} for i in range(24)]
    system = [
        {"type": "text", "text": "You are Claude Code. " + _text(rng, 1800), "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": _text(rng, 900), "cache_control": {"type": "ephemeral"}},
    ]
    image = base64.b64encode(rng.randbytes(24_000)).decode()
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}},
            {"type": "text", "text": _text(rng, 60)},
        ]},
    ]  # fmt: skip
    for turn in range(22):
        call = f"toolu_{turn:04d}"
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": _text(rng, 40)},
            {"type": "tool_use", "id": call, "name": f"tool_{turn % 24}", "input": {f"arg_{turn}_0": _text(rng, 6)}},
        ]})  # fmt: skip
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call, "content": _code(rng, 42)},
        ]})  # fmt: skip
    messages[-1]["content"].append({"type": "text", "text": "go on", "cache_control": {"type": "ephemeral"}})
    body = {"model": model, "max_tokens": 1024, "system": system, "tools": tools, "messages": messages}
    return {**body, "stream": True} if stream else body


def long_chat(model: str = "gpt-4o-mini", *, stream: bool = False) -> dict[str, Any]:
    """A long OpenAI Chat Completions body (~150 KB): tools, tool calls and their results."""
    rng = random.Random(23)
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": _text(rng, 100),
                                          "parameters": _schema(rng, i)}}
        for i in range(20)
    ]  # fmt: skip
    messages: list[dict[str, Any]] = [{"role": "system", "content": _text(rng, 1500)}]
    for turn in range(24):
        call = f"call_{turn:04d}"
        messages.append({"role": "user", "content": _text(rng, 50)})
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call, "type": "function",
             "function": {"name": f"tool_{turn % 20}", "arguments": json.dumps({f"arg_{turn}_0": _text(rng, 5)})}},
        ]})  # fmt: skip
        messages.append({"role": "tool", "tool_call_id": call, "content": _code(rng, 50)})
    messages.append({"role": "user", "content": "go on"})
    body = {"model": model, "messages": messages, "tools": tools}
    return {**body, "stream": True} if stream else body


def codex(model: str = "gpt-5-codex", *, stream: bool = False) -> dict[str, Any]:
    """A Codex-CLI-sized `/v1/responses` body (~110 KB): long instructions, 12 function tools, a history
    of messages, function calls and their outputs, and Codex's own fields (`store`, `include`, reasoning)."""
    rng = random.Random(31)
    tools = [
        {"type": "function", "name": f"tool_{i}", "description": _text(rng, 80), "strict": False,
         "parameters": _schema(rng, i)}
        for i in range(12)
    ]  # fmt: skip
    items: list[dict[str, Any]] = []
    for turn in range(20):
        call = f"call_{turn:04d}"
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": _text(rng, 40)}]})
        items.append({"type": "function_call", "call_id": call, "name": f"tool_{turn % 12}",
                      "arguments": json.dumps({f"arg_{turn}_0": _text(rng, 5)})})  # fmt: skip
        items.append({"type": "function_call_output", "call_id": call, "output": _code(rng, 40)})
    items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on"}]})
    body: dict[str, Any] = {
        "model": model,
        "instructions": _text(rng, 2000),
        "input": items,
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "bench-session",
    }
    return {**body, "stream": True} if stream else body


def small_chat(model: str = "gpt-4o-mini", *, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "say hello to the benchmark"}]}
    return {**body, "stream": True} if stream else body


def small_messages(model: str = "claude-sonnet-4-5", *, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "say hello to the benchmark"}],
    }
    return {**body, "stream": True} if stream else body


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


if __name__ == "__main__":
    for name, make in (("claude_code", claude_code), ("long_chat", long_chat)):
        print(name, f"{len(encoded(make())) / 1024:.0f} KB")
