"""streams.DeltaText: past 1 MiB, the Responses iterator's delta text keeps its last 64 KiB, and the
lost-event check still compares every character (what was cut, by its length and SHA-256)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from daemon.gateway.streams import DeltaText

KiB = 1024
PIECE = "".join(chr(0x61 + i % 26) for i in range(16 * KiB - 1)) + "é"  # not ASCII: cuts count characters


@dataclass
class Completed:
    response: Any


@dataclass
class Iterator:
    """Stands for LiteLLM's Responses iterator: the attributes DeltaText reads."""

    _generated_content: str = ""
    completed_response: Completed | None = None
    _source_iterator: Any = None


@dataclass
class Router:
    """Stands for the Router's wrapper around it."""

    _source_iterator: Iterator = field(default_factory=Iterator)


def _final(text: str) -> Completed:
    return Completed(SimpleNamespace(output=[{"type": "message", "content": [{"type": "output_text", "text": text}]}]))


def _stream(pieces: int, deltas: DeltaText) -> tuple[Router, str]:
    stream, sent = Router(), ""
    for i in range(pieces):
        piece = f"{i:05d}" + PIECE
        stream._source_iterator._generated_content += piece
        sent += piece
        deltas.trim(stream)
    return stream, sent


def test_a_short_text_is_kept_whole() -> None:
    deltas = DeltaText()
    stream, sent = _stream(10, deltas)
    assert stream._source_iterator._generated_content == sent
    stream._source_iterator.completed_response = _final(sent)
    assert not deltas.lost(stream)
    stream._source_iterator.completed_response = _final(sent + "x")
    assert deltas.lost(stream)


def test_a_long_text_keeps_its_last_64_kib_and_a_whole_one_is_not_lost() -> None:
    deltas = DeltaText()
    stream, sent = _stream(200, deltas)  # 3.1 MiB
    kept = stream._source_iterator._generated_content
    assert len(kept) <= 1024 * KiB
    assert sent.endswith(kept)
    stream._source_iterator.completed_response = _final(sent)
    assert not deltas.lost(stream)


def test_a_long_text_that_lost_or_changed_a_delta_is_found() -> None:
    deltas = DeltaText()
    stream, sent = _stream(200, deltas)
    source = stream._source_iterator
    cut_delta = sent[: 50 * len(PIECE)] + "00050" + sent[50 * len(PIECE) + 5 :]  # same length, one delta's digits
    for final in (sent + "tail", "x" + sent[1:], sent[:100] + sent[100 + 16 * KiB :], cut_delta):
        source.completed_response = _final(final)
        assert deltas.lost(stream) == (final != sent)


def test_an_iterator_that_started_over_is_compared_afresh() -> None:
    deltas = DeltaText()
    stream, _ = _stream(200, deltas)
    source = stream._source_iterator
    source._generated_content = "again"  # LiteLLM's fallback starts the text over
    deltas.trim(stream)
    source.completed_response = _final("again")
    assert not deltas.lost(stream)


@dataclass
class FallbackWrapper:
    """Stands for the Router's fallback wrapper: a Responses iterator by its class, whose text stays empty."""

    _billing_source: Iterator
    _generated_content: str = ""
    completed_response: Completed | None = None


def test_the_iterator_that_reads_is_cut_under_the_routers_empty_one() -> None:
    inner, deltas = Iterator(), DeltaText()
    stream = FallbackWrapper(inner)
    for i in range(200):
        inner._generated_content += f"{i:05d}" + PIECE
        deltas.trim(stream)
    assert len(inner._generated_content) <= 1024 * KiB
