"""What the fake provider answers: `Reply` and the helpers that build one (text, tool calls, errors, faults)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

DEFAULT_TEXT = "Hello from the fake upstream"
# `output_tokens` include `reasoning_tokens`; `cache_write_tokens` include `cache_write_1h_tokens`;
# `service_tier` is the tier the provider says it served (a string)
USAGE_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "service_tier",
    }
)


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
    usage: Mapping[str, int | str] | None = None
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_seconds: float = 0.0
    fault: Literal["stall", "cut", "corrupt", "malformed"] | None = None
    fault_after: int = 0
    fault_seconds: float = 0.0
    # exactly these bytes as the answer's body (status and content type as given), whatever was asked
    raw_body: bytes | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        unknown = set(self.usage or ()) - USAGE_KEYS
        if unknown:
            raise ValueError(f"unknown usage keys {sorted(unknown)}; use {sorted(USAGE_KEYS)}")


def text(content: str = DEFAULT_TEXT, *, usage: Mapping[str, int | str] | None = None) -> Reply:
    """An assistant text answer."""
    return Reply(text=content, usage=usage)


def tool_calls(
    calls: Iterable[tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str] | ToolCall],
    *,
    text: str | None = None,
    usage: Mapping[str, int | str] | None = None,
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
    usage: Mapping[str, int | str] | None = None,
) -> Reply:
    """The model calls one tool."""
    return tool_calls([ToolCall(name, arguments or {}, id)], text=text, usage=usage)


def thinking(
    reasoning: str,
    then: str = DEFAULT_TEXT,
    *,
    signature: str | None = None,
    usage: Mapping[str, int | str] | None = None,
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


def malformed_event(after_chunks: int, then: Reply | None = None) -> Reply:
    """Send ``after_chunks`` content chunks, then one content event whose data is not JSON in place of the
    next, then the rest of the stream to its proper end: one event broken, the stream otherwise whole."""
    return replace(then or Reply(), fault="malformed", fault_after=after_chunks)


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Reply:
    """Exactly ``body`` as the answer (``text/event-stream`` for a stream of bytes the test wrote)."""
    return Reply(text=None, status=status, raw_body=body, content_type=content_type)
