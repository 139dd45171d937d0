"""What LiteLLM's stream wrappers keep, read to tell a whole stream from one that lost an event.

LiteLLM's Responses iterator (`ResponsesAPIStreamingIterator._process_chunk`) skips an event whose
data is not JSON and reads on, so a translated stream with one malformed event in the middle still
ends with its terminal event, words missing. Two checks find the gap without touching the stream:

- the Responses API numbers its events (`sequence_number`, one more each time): a native Responses
  stream whose numbers skip lost an event (`sequence_gap`);
- under a stream LiteLLM translates from the Responses API (Anthropic Messages served by OpenAI), the
  iterator keeps the text its deltas carried (`_generated_content`) and the provider's final response
  (`completed_response`): a final text that is not the deltas' text lost a delta (`responses_lost_text`).

Nothing here imports LiteLLM: it reads attributes, so a LiteLLM that renames them makes the checks
find nothing (the stream passes as before), never fail a good stream.
"""

from __future__ import annotations

from typing import Any

# how LiteLLM's wrappers hold the stream they wrap: the Router's fallback-aware stream, the Anthropic
# adapter's byte stream and its wrapper, the Router's billing wrapper
_INNER = ("_source_iterator", "_wrapper", "wrapper", "responses_stream", "_billing_source")
# LiteLLM stamps -1 on an event it made up itself (an error without a type)
_UNNUMBERED = -1


def responses_source(stream: Any) -> Any | None:
    """The LiteLLM iterator reading the provider's Responses events, under whatever wraps it, or None."""
    current = stream
    for _ in range(8):
        if hasattr(current, "completed_response") and isinstance(getattr(current, "_generated_content", None), str):
            return current
        current = next((getattr(current, n) for n in _INNER if getattr(current, n, None) is not None), None)
        if current is None:
            return None
    return None


def responses_lost_text(stream: Any) -> bool:
    """Whether the provider's final response holds text the stream's deltas never carried."""
    source = responses_source(stream)
    if source is None:
        return False
    final = _output_text(getattr(source, "completed_response", None))
    return bool(final) and final != source._generated_content


def _output_text(completed: Any) -> str:
    response = getattr(completed, "response", None)
    parts: list[str] = []
    for item in getattr(response, "output", None) or []:
        if _field(item, "type") != "message":
            continue
        for part in _field(item, "content") or []:
            if _field(part, "type") == "output_text":
                parts.append(str(_field(part, "text") or ""))
    return "".join(parts)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class SequenceCheck:
    """Follows a Responses stream's `sequence_number`s; `gap` says what a skip lost."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: int | None = None

    def gap(self, event: dict[str, Any]) -> str | None:
        """None while the numbers follow on; else what went missing."""
        number = event.get("sequence_number")
        if not isinstance(number, int) or isinstance(number, bool) or number == _UNNUMBERED:
            return None
        last, self.last = self.last, number
        if last is None or number == last + 1:
            return None
        return f"the upstream stream lost an event it could not parse (event {last + 1} of the stream never came)"
