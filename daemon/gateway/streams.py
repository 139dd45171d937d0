"""What LiteLLM's stream wrappers keep, read to tell a whole stream from one that lost an event.

LiteLLM's Responses iterator (`ResponsesAPIStreamingIterator._process_chunk`) skips an event whose
data is not JSON and reads on, so a translated stream with one malformed event in the middle still
ends with its terminal event, words missing. Two checks find the gap without touching the stream:

- the Responses API numbers its events (`sequence_number`, one more each time): a native Responses
  stream whose numbers skip lost an event (`sequence_gap`);
- under a stream LiteLLM translates from the Responses API (Anthropic Messages served by OpenAI), the
  iterator keeps the text its deltas carried (`_generated_content`) and the provider's final response
  (`completed_response`): a final text that is not the deltas' text lost a delta (`DeltaText.lost`).
  Past 1 MiB `DeltaText.trim` keeps the last 64 KiB of that text and a digest of what it cut, so a
  huge answer is neither held whole nor rebuilt by LiteLLM's `+=` on each delta (which made a 64 MiB
  answer take minutes), and the check still compares every character.

Nothing here imports LiteLLM: it reads attributes, so a LiteLLM that renames them makes the checks
find nothing (the stream passes as before), never fail a good stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

# how LiteLLM's wrappers hold the stream they wrap: the Router's fallback-aware stream, the Anthropic
# adapter's byte stream and its wrapper, the Router's billing wrapper
_INNER = ("_source_iterator", "_wrapper", "wrapper", "responses_stream", "_billing_source")
# LiteLLM stamps -1 on an event it made up itself (an error without a type)
_UNNUMBERED = -1


def responses_source(stream: Any) -> Any | None:
    """The LiteLLM iterator reading the provider's Responses events, under whatever wraps it, or None."""
    return next(responses_iterators(stream), None)


def responses_iterators(stream: Any) -> Iterator[Any]:
    """Every Responses iterator in the chain, outermost first: the Router's fallback wrapper is one
    (for isinstance checks) whose own `_generated_content` stays empty over the one that reads."""
    current = stream
    for _ in range(8):
        if hasattr(current, "completed_response") and isinstance(getattr(current, "_generated_content", None), str):
            yield current
        current = next((getattr(current, n) for n in _INNER if getattr(current, n, None) is not None), None)
        if current is None:
            return


class DeltaText:
    """The text a Responses stream's deltas carried, as LiteLLM's iterator keeps it (`_generated_content`),
    cut to its last 64 KiB past 1 MiB: what was cut is kept as its length and a SHA-256.

    What is given up past 1 MiB: LiteLLM's own uses of that text see its last 64 KiB (a mid-stream
    fallback continues from there; usage counted from the text, when the provider reports none or the
    client leaves, counts that much).
    """

    __slots__ = ("cut", "digest", "left", "source")

    def __init__(self) -> None:
        self.source: Any = None
        self.cut = 0  # characters cut so far
        self.left = 0  # how long the text was just after the last cut
        self.digest = hashlib.sha256()

    def trim(self, stream: Any) -> None:
        """Call once per event the relay reads."""
        source = max(responses_iterators(stream), key=lambda it: len(it._generated_content), default=None)
        if source is None:
            return
        text = source._generated_content
        if source is not self.source or len(text) < self.left:  # another iterator, or LiteLLM started over
            self.source, self.cut, self.left, self.digest = source, 0, 0, hashlib.sha256()
        if len(text) <= _MAX_TEXT_SO_FAR:
            return
        cut = len(text) - _KEPT_TEXT
        _hash(self.digest, text, cut)
        self.cut += cut
        source._generated_content = text[cut:]
        self.left = _KEPT_TEXT

    def lost(self, stream: Any) -> bool:
        """Whether the provider's final response holds text the stream's deltas never carried."""
        source = self.source if self.cut else responses_source(stream)
        if source is None:
            return False
        final = _output_text(getattr(source, "completed_response", None))
        kept: str = source._generated_content
        if not final:
            return False
        if source is not self.source or not self.cut:
            return final != kept
        if len(final) != self.cut + len(kept) or not final.endswith(kept):
            return True
        return _hash(hashlib.sha256(), final, self.cut).digest() != self.digest.digest()


_KEPT_TEXT = 64 * 1024  # of a Responses stream's delta text, past _MAX_TEXT_SO_FAR


def _hash(digest: Any, text: str, end: int) -> Any:
    """`digest` fed `text[:end]` as UTF-8, 1 MiB of characters at a time (no copy of the whole)."""
    for at in range(0, end, 1024 * 1024):
        digest.update(text[at : min(end, at + 1024 * 1024)].encode("utf-8", "surrogatepass"))
    return digest


def _output_text(completed: Any) -> str:
    return response_text(getattr(completed, "response", None))


def response_text(response: Any) -> str:
    """The text of a Responses API response (an object or a dict): its `output_text` parts joined."""
    parts: list[str] = []
    for item in _field(response, "output") or []:
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
    _compact(chunks, _worth_keeping)
    for holder in _holders(stream):
        text = getattr(holder, "response_uptil_now", None)
        if isinstance(text, str) and len(text) > _MAX_TEXT_SO_FAR:
            holder.response_uptil_now = text[-_KEPT_TEXT:]


def forget_bridge_text(stream: Any) -> bool:
    """Under a Responses stream LiteLLM builds from a chat stream, let its bridge forget the text of the
    chunks it snapshots (`collected_chat_completion_chunks`, rebuilt into the final response at the
    end) and its chat wrapper the chunks themselves: memproxy keeps the text (`closing_text`) once it
    is past 1 MiB, and writes it into the closing events. True when there is such a bridge.

    Kept: the first snapshot, every one with usage, a finish reason, tool calls or reasoning (their
    texts blanked), the last 64. What is given up: a provider that reports no usage has its output
    counted from the text left.
    """
    bridge = getattr(stream, "_billing_source", stream)
    snapshots = getattr(bridge, "collected_chat_completion_chunks", None)
    if not isinstance(snapshots, list):
        return False
    chat = getattr(bridge, "litellm_custom_stream_wrapper", None)
    if chat is not None:
        forget_old_chunks(chat, _MAX_TEXT_SO_FAR)
    if len(snapshots) > _MAX_CHUNKS:
        for snapshot in _compact(snapshots, _snapshot_worth_keeping):
            for choice in snapshot.get("choices") or []:
                if isinstance(choice.get("delta"), dict) and choice["delta"].get("content"):
                    choice["delta"]["content"] = ""
    return True


def _compact(items: list[Any], worth_keeping: Callable[[Any], bool]) -> list[Any]:
    """Cut `items`, in place, to the first, those before the last 64 `worth_keeping`, and the last 64;
    return what was kept of the part cut."""
    head = items[:-_RECENT_CHUNKS]
    kept = [head[0], *(item for item in head[1:] if worth_keeping(item))]
    items[:-_RECENT_CHUNKS] = kept
    return kept


_KEPT_DELTAS = ("tool_calls", "reasoning_content", "thinking_blocks")


def _snapshot_worth_keeping(snapshot: Any) -> bool:
    if not isinstance(snapshot, dict):
        return True
    if snapshot.get("usage") is not None or snapshot.get("provider_specific_fields"):
        return True
    for choice in snapshot.get("choices") or []:
        delta = choice.get("delta") or {}
        if choice.get("finish_reason") or any(delta.get(k) for k in _KEPT_DELTAS):
            return True
    return False


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
