"""The provider's Responses API bytes on their way into LiteLLM's decoder, when nobody reads the long texts
of the closing events: an Anthropic Messages stream LiteLLM translates from an OpenAI deployment.

The four closing events of a Responses stream each repeat the whole answer, and LiteLLM's
`ResponsesAPIStreamingIterator` decodes, parses and keeps each one whole (a 64 MiB answer took the
daemon 385 MiB past what it held before). Its Anthropic adapter reads only their ids, types, status
and usage: the text an Anthropic client gets comes from the deltas. `feed_bounded` replaces the
iterator's decoder, before a byte is read, with `Feed.events`: the provider's bytes through
`LongStrings` (the closing texts cut to 64 KiB) and `SseSplitter`, each event's data handed to the
iterator as its decoder would (the iterator reads nothing else of an event).

The same place checks every event as it passes, as the Responses relay of the fast path does: data
that is not JSON (LiteLLM skips it and reads on) or a `sequence_number` that skips is a lost event,
`Feed.lost` says which. Where LiteLLM holds the stream differently (another version), nothing is
installed and `streams.DeltaText` still compares the text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from daemon.errors import UpstreamFailed
from daemon.gateway.answers import loads
from daemon.gateway.longstrings import CutEvents
from daemon.gateway.sse import SseEvent
from daemon.gateway.streams import SequenceCheck, responses_iterators


@dataclass(frozen=True, slots=True)
class Sse:
    """One event as LiteLLM's Responses iterator reads it from its decoder: its data."""

    data: str


class Feed:
    """What passed into LiteLLM's decoder: the strings it cut, and the first event lost, if any."""

    __slots__ = ("cut", "lost", "numbers")

    def __init__(self) -> None:
        self.cut = CutEvents()
        self.numbers = SequenceCheck()
        self.lost: str | None = None

    async def events(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[Sse]:
        """The events of the byte stream `chunks`, as LiteLLM's iterator reads its decoder's."""
        async for chunk in chunks:
            for sse in self._read(self.cut.feed(chunk)):
                yield sse
        for sse in self._read(self.cut.end()):
            yield sse

    def _read(self, events: list[SseEvent]) -> list[Sse]:
        read = []
        for event in events:
            if event.data is not None:
                self._check(event.data)
                read.append(Sse(event.data.decode("utf-8", "replace")))
        return read

    def _check(self, data: bytes) -> None:
        if self.lost is not None or data.strip() == b"[DONE]":
            return
        try:
            payload = loads(data, "stream event")
        except UpstreamFailed:
            payload = None
        if not isinstance(payload, dict):
            self.lost = "the upstream stream lost an event it could not parse (text is missing)"
        else:
            self.lost = self.numbers.gap(payload)


def feed_bounded(stream: Any) -> Feed | None:
    """Install a `Feed` under the LiteLLM Responses iterator `stream` reads from; None where that
    cannot be done safely (no such iterator, or it has read from its response already)."""
    source = next((it for it in responses_iterators(stream) if hasattr(it, "stream_iterator")), None)
    response = getattr(source, "response", None)
    if source is None or response is None or getattr(response, "is_stream_consumed", True) is not False:
        return None
    feed = Feed()
    source.stream_iterator = feed.events(response.aiter_bytes())
    return feed
