"""A huge prompt costs memory a bounded amount of work (issue 16, item 9): the search reads the start of
it, capture scrubs only what it keeps, a key across the clip is still scrubbed whole, and a long
conversation's turn keys are hashed off the event loop."""

from __future__ import annotations

import threading

import pytest

from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.memory.capture import MAX_SIDE_CHARS, Capturer
from daemon.memory.freeze import LONG_CONVERSATION_CHARS, FrozenBlocks
from daemon.memory.fts import MAX_QUERY_CHARS, query_terms
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment

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


class Role(str):
    """A role that notes the thread each time it is read as a string (`turn_keys` hashes it)."""

    threads: list[int]

    def __str__(self) -> str:
        self.threads.append(threading.get_ident())
        return str.__str__(self)


@pytest.mark.regression(reason="BUG: a 23.8 MiB prompt's turn key was hashed on the event loop (60-74 ms)")
@pytest.mark.parametrize("chars", [20, LONG_CONVERSATION_CHARS])
async def test_a_long_conversation_is_hashed_off_the_loop(local_backend: LocalBackend, chars: int) -> None:
    role = Role("user")
    role.threads = []
    body = {"messages": [{"role": role, "content": "word " * (chars // 5 + 1)}]}
    await augment(
        body,
        dialect=Dialect.OPENAI,
        model="gpt-4o",
        backend=local_backend,
        scope="project:shop",
        cr=ContextRetrieval(),
        frozen=FrozenBlocks(),
    )
    loop = threading.get_ident()
    assert role.threads  # its turn key was made
    # hashing a short one costs less than the hop to a thread: it stays on the loop
    assert (set(role.threads) != {loop}) is (chars >= LONG_CONVERSATION_CHARS)
