"""augment(): retrieve + select + inject for a request, and never a failed request because of memory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.errors import MemoryBackendError
from daemon.memory.base import Memory, MemoryBackend
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment, retrieve

SHOP, BLOG = "project:shop", "project:blog"
HEADING = "Relevant memories for this project:"


def _chat(question: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": question}]}


class Broken:
    """A backend whose search fails, or never answers."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
        if self.hang:
            await asyncio.Event().wait()
        raise MemoryBackendError("disk on fire")

    def for_user(self, user_id: str) -> Broken:
        return self


async def test_shop_memory_reaches_shop_and_not_blog(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "my name is Alice and I deploy on Fridays")
    cr = ContextRetrieval(injection_strategy="system")

    shop = await augment(
        _chat("when do I deploy?"), dialect=Dialect.OPENAI, model="gpt-4o", backend=local_backend, scope=SHOP, cr=cr
    )
    assert shop.hits == 1
    assert shop.body["messages"][0] == {
        "role": "system",
        "content": f"{HEADING}\n- my name is Alice and I deploy on Fridays",
    }

    blog = await augment(
        _chat("when do I deploy?"), dialect=Dialect.OPENAI, model="gpt-4o", backend=local_backend, scope=BLOG, cr=cr
    )
    assert blog.hits == 0
    assert blog.body == _chat("when do I deploy?")


async def test_anthropic_user_suffix(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "I deploy on Fridays")
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "deploy when?"}]}
    out = await augment(
        body,
        dialect=Dialect.ANTHROPIC,
        model="claude-sonnet-4-5",
        backend=local_backend,
        scope=SHOP,
        cr=ContextRetrieval(injection_strategy="user_suffix"),
    )
    assert out.body["messages"][0]["content"] == f"deploy when?\n\n{HEADING}\n- I deploy on Fridays"
    assert "system" not in out.body


async def test_results_are_cut_to_max_results_and_length(local_backend: LocalBackend) -> None:
    for n in range(5):
        await local_backend.add(SHOP, f"deploy rule number {n}")
    out = await augment(
        _chat("deploy"),
        dialect=Dialect.OPENAI,
        model="m",
        backend=local_backend,
        scope=SHOP,
        cr=ContextRetrieval(max_results=3, max_context_length=40),
    )
    assert out.hits == 2  # 20 characters each: two fit in 40
    assert out.body["messages"][0]["content"].count("\n- ") == 2


@pytest.mark.parametrize(
    "cr",
    [
        ContextRetrieval(enabled=False),
        ContextRetrieval(enabled_for_models=["claude-*"]),
        ContextRetrieval(max_results=0),
    ],
)
async def test_off_means_the_body_is_untouched(local_backend: LocalBackend, cr: ContextRetrieval) -> None:
    await local_backend.add(SHOP, "deploy on Fridays")
    out = await augment(
        _chat("deploy"), dialect=Dialect.OPENAI, model="gpt-4o", backend=local_backend, scope=SHOP, cr=cr
    )
    assert (out.hits, out.body) == (0, _chat("deploy"))


@pytest.mark.parametrize("hang", [False, True])
async def test_a_failing_or_slow_backend_costs_only_the_memory(hang: bool, caplog: pytest.LogCaptureFixture) -> None:
    backend: Any = Broken(hang=hang)
    cr = ContextRetrieval(timeout=0.05)
    assert await retrieve(backend, SHOP, "deploy", cr) == []
    out = await augment(_chat("deploy"), dialect=Dialect.OPENAI, model="gpt-4o", backend=backend, scope=SHOP, cr=cr)
    assert (out.hits, out.body) == (0, _chat("deploy"))
    assert "going on without memory" in caplog.text


async def test_user_sessions_are_used_when_a_user_is_given() -> None:
    asked: list[str] = []

    class PerUser:
        def __init__(self, user: str = "-") -> None:
            self.user = user

        async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
            asked.append(self.user)
            return []

        def for_user(self, user_id: str) -> PerUser:
            return PerUser(user_id)

    backend: MemoryBackend = PerUser()  # type: ignore[assignment]
    await augment(
        _chat("x"),
        dialect=Dialect.OPENAI,
        model="m",
        backend=backend,
        scope=SHOP,
        cr=ContextRetrieval(),
        user_id="alice",
    )
    assert asked == ["alice"]
