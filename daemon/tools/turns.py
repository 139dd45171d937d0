"""How each dialect writes tool calls and tool results: the loop in `daemon.tools.loop` is generic.

A `Turns` adapter reads the calls out of a provider response, writes the next request's messages
(the assistant turn plus the tool results), removes calls from a response, and writes the final
message that ends a loop at its limit. Responses are plain dicts; inputs are never mutated.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Protocol

from daemon.cost import Usage, usage_from_anthropic, usage_from_openai
from daemon.dialects import Dialect
from daemon.tools.execute import ToolCall, ToolResult

_TOOL_USE_BLOCKS = ("tool_use",)


class Turns(Protocol):
    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        """Every tool call in `response`, in order."""
        ...

    def usage(self, response: dict[str, Any]) -> Usage: ...

    def continue_with(self, messages: list[Any], response: dict[str, Any], results: list[ToolResult]) -> list[Any]:
        """`messages` followed by the assistant's turn and the results of all its calls."""
        ...

    def keep_calls(self, response: dict[str, Any], keep: list[bool]) -> dict[str, Any]:
        """A copy of `response` with only the calls whose `keep` flag (in `calls` order) is set."""
        ...

    def stopped(self, response: dict[str, Any], note: str) -> dict[str, Any]:
        """A copy of `response` turned into a final text answer: its own text, then `note`."""
        ...


def _clean(value: Any) -> Any:
    """`value` without None entries in its dicts (LiteLLM dumps `citations: null` and the like)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class OpenAITurns:
    """Chat Completions: `message.tool_calls`, answered by `role: tool` messages."""

    @staticmethod
    def _message(response: dict[str, Any]) -> dict[str, Any]:
        choices = response.get("choices") or []
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        return message if isinstance(message, dict) else {}

    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        found = []
        for index, call in enumerate(self._message(response).get("tool_calls") or []):
            function = call.get("function") or {}
            # a call without an id still needs one to pair it with its result
            call_id = call.get("id") or f"call_memproxy_{index}"
            found.append(ToolCall(str(call_id), str(function.get("name") or ""), function.get("arguments")))
        return found

    def usage(self, response: dict[str, Any]) -> Usage:
        return usage_from_openai(response.get("usage"), response.get("service_tier"))

    def continue_with(self, messages: list[Any], response: dict[str, Any], results: list[ToolResult]) -> list[Any]:
        message = self._message(response)
        assistant: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        assistant["tool_calls"] = [
            {
                "id": r.call.id,
                "type": "function",
                "function": {"name": r.call.name, "arguments": _arguments_text(r.call.arguments)},
            }
            for r in results
        ]
        # LiteLLM needs Anthropic's signed thinking back when it translates a thinking model's turn
        if message.get("thinking_blocks"):
            assistant["thinking_blocks"] = message["thinking_blocks"]
        tool_messages = [{"role": "tool", "tool_call_id": r.call.id, "content": r.content} for r in results]
        return [*messages, assistant, *tool_messages]

    def keep_calls(self, response: dict[str, Any], keep: list[bool]) -> dict[str, Any]:
        out = copy.deepcopy(response)
        message = self._message(out)
        message["tool_calls"] = [c for c, k in zip(message.get("tool_calls") or [], keep, strict=False) if k]
        return out

    def stopped(self, response: dict[str, Any], note: str) -> dict[str, Any]:
        out = copy.deepcopy(response)
        content = self._message(out).get("content")
        text = f"{content}\n\n{note}" if isinstance(content, str) and content.strip() else note
        choices = out.get("choices") or [{"index": 0}]
        choices[0] = {**choices[0], "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        out["choices"] = choices
        return out


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {})


class AnthropicTurns:
    """Messages: `tool_use` content blocks, answered by a user turn of `tool_result` blocks."""

    @staticmethod
    def _blocks(response: dict[str, Any]) -> list[Any]:
        content = response.get("content")
        return content if isinstance(content, list) else []

    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        return [
            ToolCall(str(b.get("id") or ""), str(b.get("name") or ""), b.get("input"))
            for b in self._blocks(response)
            if isinstance(b, dict) and b.get("type") in _TOOL_USE_BLOCKS
        ]

    def usage(self, response: dict[str, Any]) -> Usage:
        return usage_from_anthropic(response.get("usage"))

    def continue_with(self, messages: list[Any], response: dict[str, Any], results: list[ToolResult]) -> list[Any]:
        # The whole assistant turn goes back as it came: thinking blocks must keep their signatures.
        assistant = {"role": "assistant", "content": _clean(self._blocks(response))}
        tool_results = []
        for r in results:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.call.id, "content": r.content}
            if r.is_error:
                block["is_error"] = True
            tool_results.append(block)
        return [*messages, assistant, {"role": "user", "content": tool_results}]

    def keep_calls(self, response: dict[str, Any], keep: list[bool]) -> dict[str, Any]:
        out = copy.deepcopy(response)
        flags = iter(keep)
        out["content"] = [
            b
            for b in self._blocks(out)
            if not (isinstance(b, dict) and b.get("type") in _TOOL_USE_BLOCKS) or next(flags, True)
        ]
        return out

    def stopped(self, response: dict[str, Any], note: str) -> dict[str, Any]:
        out = copy.deepcopy(response)
        texts = [b for b in self._blocks(out) if isinstance(b, dict) and b.get("type") == "text" and b.get("text")]
        out["content"] = [*texts, {"type": "text", "text": note}]
        out["stop_reason"] = "end_turn"
        out["stop_sequence"] = None
        return out


def turns_for(dialect: Dialect) -> Turns:
    """The adapter for `dialect`."""
    return AnthropicTurns() if dialect == Dialect.ANTHROPIC else OpenAITurns()
