"""scrub and strip_blocks: what memory never keeps or passes on."""

from __future__ import annotations

from daemon.memory.base import Memory
from daemon.memory.clean import scrub, strip_blocks
from daemon.memory.retrieval import format_context


def test_known_keys_go_by_value_the_longest_first() -> None:
    assert scrub("a key-one-123 and key-one-1234", ["key-one-123", "key-one-1234"]) == "a [redacted] and [redacted]"
    assert scrub("short abc stays", ["abc"]) == "short abc stays"  # too short to be a key


def test_key_shapes_go_whether_known_or_not() -> None:
    text = "OPENAI=sk-proj-abcdefghijklmnop0123 header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y"
    assert scrub(text) == "OPENAI=[redacted] header Authorization: Bearer [redacted]"
    assert scrub("a task-list and sk-short stay") == "a task-list and sk-short stay"


def test_a_pem_block_goes_whole_even_when_cut_off() -> None:
    assert scrub("x -----BEGIN PRIVATE KEY-----\nMIIE\nabc") == "x [redacted]"


def test_strip_blocks_takes_out_only_the_injected_block() -> None:
    block = format_context([Memory("1", "we deploy\non Fridays", "s", "t"), Memory("2", "logo is teal", "s", "t")])
    assert strip_blocks(f"when do we deploy?\n\n{block}") == "when do we deploy?"
    assert strip_blocks(f"{block}\n\nwhen do we deploy?\nthanks") == "when do we deploy?\nthanks"
    assert strip_blocks("no block here") == "no block here"
