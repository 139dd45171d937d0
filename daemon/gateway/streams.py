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


# LiteLLM's chat stream wrapper keeps every chunk it hands out (`chunks`) and the whole text so far
# (`response_uptil_now`, rebuilt by `+=` on each chunk): a 200 MiB answer was held whole, twice.
# Past 1 MiB of answer, `forget_old_chunks` keeps what is read from them: the first chunk, every chunk
# that carries usage or a finish_reason (`llm.provider_finished`, LiteLLM's own usage sums), the latest.
_MAX_CHUNKS = 256
_RECENT_CHUNKS = 64
_MAX_TEXT_SO_FAR = 1024 * 1024


def forget_old_chunks(stream: Any, answer_bytes: int) -> None:
    """Bound what LiteLLM's stream wrapper (and the Router's around it) keeps of a stream whose answer
    is `answer_bytes` long so far; an answer under 1 MiB is left alone.

    Call it once per chunk the relay reads; it works every 200 chunks or so. The list is cut in place
    (the Router's wrapper shares it). What is given up past 1 MiB: on a mid-stream fallback LiteLLM
    continues from the last 64 KiB of the text, and an upstream that reports no usage has its output
    counted from the chunks kept.
    """
    chunks = getattr(stream, "chunks", None)
    if answer_bytes < _MAX_TEXT_SO_FAR or not isinstance(chunks, list) or len(chunks) <= _MAX_CHUNKS:
        return
    head = chunks[:-_RECENT_CHUNKS]
    chunks[:-_RECENT_CHUNKS] = [head[0], *(c for c in head[1:] if _worth_keeping(c))]
    for holder in _holders(stream):
        text = getattr(holder, "response_uptil_now", None)
        if isinstance(text, str) and len(text) > _MAX_TEXT_SO_FAR:
            holder.response_uptil_now = text[-64 * 1024 :]


def _holders(stream: Any) -> list[Any]:
    """`stream` and the LiteLLM wrapper it reads from (the Router's wrapper reads its inner one)."""
    found = [stream]
    generator = getattr(stream, "_async_generator", None)
    frame = getattr(generator, "ag_frame", None)
    inner = frame.f_locals.get("model_response") if frame is not None else None
    if inner is not None and inner is not stream:
        found.append(inner)
    return found


def _worth_keeping(chunk: Any) -> bool:
    if getattr(chunk, "usage", None) is not None:
        return True
    choices = getattr(chunk, "choices", None)
    return bool(choices and getattr(choices[0], "finish_reason", None))
