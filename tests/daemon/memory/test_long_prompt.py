"""A huge prompt costs memory a bounded amount of work (issue 16, item 9): the search reads the start of
it, capture scrubs only what it keeps, and a key across the clip is still scrubbed whole."""

from __future__ import annotations

from daemon.memory.capture import MAX_SIDE_CHARS, Capturer
from daemon.memory.fts import MAX_QUERY_CHARS, query_terms
from daemon.memory.local import LocalBackend

KEY = "sk-ant-api03-STRADDLE" + "a" * 40


def test_the_search_reads_only_the_start_of_a_long_text() -> None:
    text = "kiwi " + "the " * (MAX_QUERY_CHARS // 4) + "mango"
    assert query_terms(text) == ["kiwi"]


async def test_capture_of_a_huge_prompt_keeps_its_start_and_scrubs_a_key_across_the_clip(
    local_backend: LocalBackend,
) -> None:
    capturer = Capturer(local_backend)
    question = "q" * (MAX_SIDE_CHARS - 10) + KEY + " and more" * 1_000_000
    assert capturer.submit("project:shop", question, "Noted.", secrets=[KEY]) is True
    await capturer.drain()
    (memory,) = await local_backend.list("project:shop")
    assert "STRADDLE" not in memory.text and "sk-ant" not in memory.text
    assert len(memory.text) < 2 * MAX_SIDE_CHARS
    await capturer.close()
