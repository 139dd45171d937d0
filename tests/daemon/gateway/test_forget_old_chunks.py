"""streams.forget_old_chunks: past 1 MiB of answer, LiteLLM's chunk list keeps what is read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daemon.gateway.streams import forget_old_chunks

MiB = 1024 * 1024


@dataclass
class Choice:
    finish_reason: str | None = None


@dataclass
class Chunk:
    n: int
    choices: list[Choice] = field(default_factory=lambda: [Choice()])
    usage: Any = None


@dataclass
class Wrapper:
    chunks: list[Chunk] = field(default_factory=list)
    response_uptil_now: str = ""


def test_a_short_answer_keeps_every_chunk() -> None:
    stream = Wrapper([Chunk(i) for i in range(1000)])
    forget_old_chunks(stream, MiB - 1)
    assert len(stream.chunks) == 1000


def test_a_long_answer_keeps_the_first_the_usage_the_finish_and_the_latest() -> None:
    chunks = [Chunk(i) for i in range(1000)]
    chunks[1].usage = {"prompt_tokens": 12}  # Anthropic's message_start
    chunks[500].choices = [Choice("stop")]
    shared = chunks  # the Router's wrapper holds the same list
    stream = Wrapper(chunks, "x" * (2 * MiB))
    forget_old_chunks(stream, 2 * MiB)
    assert stream.chunks is shared
    kept = [c.n for c in stream.chunks]
    assert kept[:3] == [0, 1, 500]
    assert kept[3:] == list(range(936, 1000))
    assert len(stream.response_uptil_now) == 64 * 1024


def test_chunks_without_choices_are_kept_only_with_usage() -> None:
    chunks = [Chunk(i, choices=[]) for i in range(300)]
    forget_old_chunks(Wrapper(chunks), 2 * MiB)
    assert [c.n for c in chunks] == [0, *range(236, 300)]
