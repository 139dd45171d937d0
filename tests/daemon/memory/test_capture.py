"""Capture: exchanges become memories off the request path, bounded, never raising."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.config.settings import ContextRetrieval
from daemon.errors import MemoryBackendError
from daemon.memory.base import Memory
from daemon.memory.capture import MAX_SIDE_CHARS, Capturer, exchange_text
from daemon.memory.local import LocalBackend

SHOP = "project:shop"


def test_exchange_text() -> None:
    assert exchange_text(" When do I deploy? ", "On Fridays.\n") == "User: When do I deploy?\nAssistant: On Fridays."


@pytest.mark.parametrize(("question", "answer"), [("", "a"), ("q", ""), ("  ", "a"), ("q", "\n")])
def test_an_exchange_missing_a_side_is_not_worth_keeping(question: str, answer: str) -> None:
    assert exchange_text(question, answer) == ""


def test_long_sides_are_clipped() -> None:
    text = exchange_text("q" * 5000, "a" * 5000)
    question, answer = text.split("\n")
    assert len(question) == len("User: ") + MAX_SIDE_CHARS and question.endswith("…")
    assert len(answer) == len("Assistant: ") + MAX_SIDE_CHARS


async def test_captured_exchanges_become_searchable(local_backend: LocalBackend) -> None:
    capturer = Capturer(local_backend)
    assert capturer.submit(SHOP, "my name is Alice and I deploy on Fridays", "Noted, Alice.") is True
    await capturer.drain()
    found = await local_backend.search(SHOP, "when do I deploy?", 5)
    assert [m.text for m in found] == ["User: my name is Alice and I deploy on Fridays\nAssistant: Noted, Alice."]
    assert capturer.stored == 1
    await capturer.close()


async def test_capture_false_stores_nothing(local_backend: LocalBackend) -> None:
    capturer = Capturer.from_settings(local_backend, ContextRetrieval(capture=False))
    assert capturer.submit(SHOP, "q", "a") is False
    await capturer.close()
    assert await local_backend.list(SHOP) == []


class Slow:
    """A backend that takes its time (or fails) storing, recording what it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.release = asyncio.Event()
        self.added: list[tuple[str, str, str | None]] = []
        self.fail = fail
        self.user: str | None = None

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory:
        await self.release.wait()
        if self.fail:
            raise MemoryBackendError("backend down")
        self.added.append((scope, text, self.user))
        return Memory("1", text, scope, "now")

    def for_user(self, user_id: str) -> Slow:
        self.user = user_id
        return self


async def test_submit_never_waits_for_the_backend_and_a_full_queue_drops(caplog: pytest.LogCaptureFixture) -> None:
    backend: Any = Slow()
    capturer = Capturer(backend, maxsize=2)
    # Nothing has been stored yet, so the queue (2) fills and the rest is dropped with a log line.
    results = [capturer.submit(SHOP, f"q{n}", "a") for n in range(5)]
    assert results == [True, True, False, False, False]
    assert "queue is full" in caplog.text
    await asyncio.sleep(0)  # the writer takes q0 off the queue (and waits on the backend)
    assert capturer.submit(SHOP, "late", "a") is True
    assert capturer.dropped == 3
    backend.release.set()
    await capturer.drain()
    assert [t.split("\n")[0] for _, t, _ in backend.added] == ["User: q0", "User: q1", "User: late"]
    await capturer.close()


async def test_a_failing_backend_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend: Any = Slow(fail=True)
    backend.release.set()
    capturer = Capturer(backend)
    capturer.submit(SHOP, "q", "a", user_id="alice")
    await capturer.drain()
    assert (capturer.failed, capturer.stored) == (1, 0)
    assert "could not store a memory in project:shop: backend down" in caplog.text
    assert capturer.submit(SHOP, "q2", "a2") is True  # still working afterwards
    await capturer.close()


async def test_close_stores_what_is_queued_then_refuses(local_backend: LocalBackend) -> None:
    capturer = Capturer(local_backend)
    for n in range(10):
        capturer.submit(SHOP, f"question {n}", "answer")
    await capturer.close()
    assert len(await local_backend.list(SHOP)) == 10
    assert capturer.submit(SHOP, "after", "close") is False


async def test_the_user_session_is_used() -> None:
    backend: Any = Slow()
    backend.release.set()
    capturer = Capturer(backend)
    capturer.submit(SHOP, "q", "a", user_id="alice")
    await capturer.drain()
    assert backend.added == [(SHOP, "User: q\nAssistant: a", "alice")]
    await capturer.close()


async def test_a_fact_restated_with_small_changes_replaces_the_older_memory(local_backend: LocalBackend) -> None:
    capturer = Capturer(local_backend)
    capturer.submit(SHOP, "We deploy the shop on Fridays after lunch", "Noted.")
    capturer.submit(SHOP, "we deploy the shop on Fridays, after lunch!", "Noted.")  # the same, retyped
    capturer.submit(SHOP, "We deploy the shop on Fridays after lunch, from the main branch", "Noted.")
    capturer.submit(SHOP, "We deploy the blog on Mondays", "Noted.")  # another fact
    await capturer.drain()
    texts = [m.text for m in await local_backend.list(SHOP)]
    assert texts == [
        "User: We deploy the blog on Mondays\nAssistant: Noted.",
        "User: We deploy the shop on Fridays after lunch, from the main branch\nAssistant: Noted.",
    ]
    assert capturer.folded == 2
    await capturer.close()


async def test_a_note_added_by_hand_is_never_folded_away(local_backend: LocalBackend) -> None:
    note = await local_backend.add(SHOP, "User: We deploy the shop on Fridays after lunch\nAssistant: Noted.")
    capturer = Capturer(local_backend)
    capturer.submit(SHOP, "we deploy the shop on Fridays, after lunch!", "Noted.")
    await capturer.drain()
    assert note.id in [m.id for m in await local_backend.list(SHOP)]
    assert len(await local_backend.list(SHOP)) == 2
    await capturer.close()


async def test_folding_never_takes_the_new_memory_with_the_old(local_backend: LocalBackend) -> None:
    """`forget` also deletes what quotes the forgotten text whole: a capture quoting the older one
    keeps both rather than losing both."""
    capturer = Capturer(local_backend)
    capturer.submit(SHOP, "We deploy the shop on Fridays after lunch", "Noted.")
    await capturer.drain()
    (old,) = await local_backend.list(SHOP)
    capturer.submit(SHOP, f"{old.text} again", "Noted.")
    await capturer.drain()
    assert len(await local_backend.list(SHOP)) == 2
    await capturer.close()
