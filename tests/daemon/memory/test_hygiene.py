"""Memory does not feed on noise: a relevance threshold, a per-scope cap and retention for captured
memories, and captures that survive a locked memory.db. Real SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.memory.capture import Capturer
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment

SHOP = "project:shop"


async def _hits(backend: LocalBackend, question: str, cr: ContextRetrieval | None = None) -> int:
    body = {"messages": [{"role": "user", "content": question}]}
    got = await augment(
        body, dialect=Dialect.OPENAI, model="gpt-4o", backend=backend, scope=SHOP, cr=cr or ContextRetrieval()
    )
    return got.hits


async def test_one_shared_word_with_a_long_question_injects_nothing(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "the logo colour is teal")
    long = "please refactor the payment module and add logging to the checkout logo handler"
    assert await _hits(local_backend, long) == 0
    assert await _hits(local_backend, "what colour is the logo?") == 1
    assert await _hits(local_backend, "is the logo done?") == 1  # one of few terms still counts
    assert await _hits(local_backend, long, ContextRetrieval(min_match_ratio=0)) == 1  # the threshold is configurable


async def test_captured_memories_are_capped_per_scope_oldest_out_first(local_backend: LocalBackend) -> None:
    note = await local_backend.add(SHOP, "a note added by hand is never evicted")
    capturer = Capturer(local_backend, max_per_scope=3)
    for n in range(6):
        assert capturer.submit(SHOP, f"question number {n}", f"answer number {n}")
    capturer.submit("project:blog", "blog question", "blog answer")
    await capturer.drain()
    texts = [m.text for m in await local_backend.list(SHOP)]
    assert texts == [
        "User: question number 5\nAssistant: answer number 5",
        "User: question number 4\nAssistant: answer number 4",
        "User: question number 3\nAssistant: answer number 3",
        note.text,
    ]
    assert len(await local_backend.list("project:blog")) == 1
    await capturer.close()


async def test_captured_memories_older_than_retention_days_go(local_backend: LocalBackend, tmp_path: Path) -> None:
    capturer = Capturer(local_backend, retention_days=30)
    capturer.submit(SHOP, "an old question", "an old answer")
    await capturer.drain()
    with sqlite3.connect(tmp_path / "memory.db") as conn:  # as if captured 31 days ago
        conn.execute("UPDATE memories SET created_at = '2000-01-01T00:00:00.000Z'")
    capturer.submit(SHOP, "a new question", "a new answer")
    await capturer.drain()
    assert [m.text for m in await local_backend.list(SHOP)] == ["User: a new question\nAssistant: a new answer"]
    await capturer.close()


async def test_captures_wait_out_a_locked_store(tmp_path: Path) -> None:
    """20 captures while another process holds memory.db's write lock for longer than busy_timeout:
    all 20 are stored once the lock goes (none lost, none twice)."""
    backend = LocalBackend(tmp_path / "memory.db", busy_timeout_ms=50)
    await backend.add(SHOP, "the store exists")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(tmp_path / "memory.db")
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(5)
    capturer = Capturer(backend, retry_for=30, retry_delay=0.05)
    for n in range(20):
        assert capturer.submit(SHOP, f"locked question {n}", f"locked answer {n}")
    await asyncio.sleep(1.0)  # 20 busy timeouts' worth: without retries most would be lost by now
    release.set()
    holder.join()
    await asyncio.wait_for(capturer.drain(), 20)
    stored = [m.text for m in await backend.list(SHOP, 100) if m.text.startswith("User: locked")]
    assert len(stored) == 20 and capturer.failed == 0
    await capturer.close()
    await backend.close()
