"""Both memory backends behind one fixture, so the behaviour tests run against each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from daemon.memory.base import MemoryBackend
from daemon.memory.local import LocalBackend
from tests.daemon.memory.fake_supermemory import FakeSupermemory
from tests.support.memory import supermemory_backend


@pytest.fixture
def fake_supermemory() -> Iterator[FakeSupermemory]:
    with FakeSupermemory() as server:
        yield server


@pytest.fixture
async def local_backend(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "memory.db")
    yield backend
    await backend.close()


@pytest.fixture(params=["local", "supermemory"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MemoryBackend]:
    if request.param == "local":
        store: MemoryBackend = LocalBackend(tmp_path / "memory.db")
        yield store
        await store.close()
        return
    with FakeSupermemory() as server:
        store = supermemory_backend(server)
        yield store
        await store.close()
