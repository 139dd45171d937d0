"""The behaviour every memory backend owes the gateway, run against local and (fake) Supermemory."""

from __future__ import annotations

import pytest

from daemon.errors import MemoryBackendError
from daemon.memory.base import MemoryBackend

SHOP, BLOG = "project:shop", "project:blog"
HOSTILE_QUERIES = [
    '"',
    '""deploy"',
    "*",
    "deploy*",
    "NEAR",
    "NEAR(deploy friday, 2)",
    "OR",
    "deploy OR",
    "AND NOT",
    "deploy AND NOT friday",
    "(",
    "(deploy",
    ")",
    "^deploy",
    "scope_key: deploy",
    "body:deploy",
    "-deploy +friday",
    "deploy; DROP TABLE memories; --",
    "🚀🔥",
    "déployer ünïcödé 日本語",
    "\x00\x01",
]


async def test_add_then_search_finds_it(backend: MemoryBackend) -> None:
    added = await backend.add(SHOP, "my name is Alice and I deploy on Fridays")
    await backend.add(SHOP, "the database is postgres 16")
    found = await backend.search(SHOP, "when do I deploy?", 5)
    assert [m.text for m in found][:1] == ["my name is Alice and I deploy on Fridays"]
    assert found[0].id == added.id
    assert found[0].scope == SHOP
    assert found[0].score is not None


async def test_scopes_never_see_each_other(backend: MemoryBackend) -> None:
    await backend.add(SHOP, "shop deploys on Fridays")
    await backend.add(BLOG, "blog deploys on Mondays")
    await backend.add("project:shop/user:alice", "alice deploys on Sundays")
    await backend.add("user:alice", "alice in general deploys daily")

    assert [m.text for m in await backend.search(SHOP, "deploys", 10)] == ["shop deploys on Fridays"]
    assert [m.text for m in await backend.search(BLOG, "deploys", 10)] == ["blog deploys on Mondays"]
    assert [m.text for m in await backend.search("user:alice", "deploys", 10)] == ["alice in general deploys daily"]
    assert [m.text for m in await backend.list(SHOP)] == ["shop deploys on Fridays"]
    assert await backend.search("project:nothing", "deploys", 10) == []


async def test_ids_are_scoped_too(backend: MemoryBackend) -> None:
    shop = await backend.add(SHOP, "shop secret")
    assert await backend.get(BLOG, shop.id) is None
    assert await backend.forget(BLOG, shop.id) is False
    got = await backend.get(SHOP, shop.id)
    assert got is not None and got.text == "shop secret"


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
async def test_hostile_queries_never_raise(backend: MemoryBackend, query: str) -> None:
    await backend.add(SHOP, "we deploy on friday, see NEAR and OR in the docs")
    found = await backend.search(SHOP, query, 5)
    assert isinstance(found, list)
    assert all(m.scope == SHOP for m in found)


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "?!*()\"'"])
async def test_blank_or_wordless_query_finds_nothing(backend: MemoryBackend, query: str) -> None:
    await backend.add(SHOP, "anything at all")
    assert await backend.search(SHOP, query, 5) == []


async def test_unicode_and_emoji_round_trip(backend: MemoryBackend) -> None:
    text = "Ünïcödé déploiement 日本語 🚀 le vendredi"
    await backend.add(SHOP, text)
    found = await backend.search(SHOP, "déploiement 🚀", 5)
    assert [m.text for m in found] == [text]


async def test_a_one_megabyte_text_is_stored_whole(backend: MemoryBackend) -> None:
    text = "needle " + ("lorem ipsum dolor sit amet " * 40_000)[: 1024 * 1024 - 7]
    assert len(text) == 1024 * 1024
    added = await backend.add(SHOP, text)
    got = await backend.get(SHOP, added.id)
    assert got is not None and got.text == text
    found = await backend.search(SHOP, "needle", 1)
    assert [m.id for m in found] == [added.id]


async def test_list_is_newest_first_and_limited(backend: MemoryBackend) -> None:
    for n in range(5):
        await backend.add(SHOP, f"note number {n}")
    listed = await backend.list(SHOP, limit=3)
    assert [m.text for m in listed] == ["note number 4", "note number 3", "note number 2"]


async def test_forget_one_and_all(backend: MemoryBackend) -> None:
    first = await backend.add(SHOP, "deploy on fridays")
    await backend.add(SHOP, "deploy with care")
    await backend.add(BLOG, "deploy the blog")

    assert await backend.forget(SHOP, first.id) is True
    assert await backend.forget(SHOP, first.id) is False
    assert [m.text for m in await backend.search(SHOP, "deploy", 10)] == ["deploy with care"]

    assert await backend.forget_all(SHOP) == 1
    assert await backend.forget_all(SHOP) == 0
    assert await backend.search(SHOP, "deploy", 10) == []
    assert [m.text for m in await backend.search(BLOG, "deploy", 10)] == ["deploy the blog"]


async def test_unknown_ids_are_absent(backend: MemoryBackend) -> None:
    for id in ("999999", "not-an-id", "", "../../etc", "1; DROP TABLE memories"):
        assert await backend.get(SHOP, id) is None
        assert await backend.forget(SHOP, id) is False


async def test_empty_text_is_refused(backend: MemoryBackend) -> None:
    with pytest.raises(MemoryBackendError, match="needs some text"):
        await backend.add(SHOP, "   ")


async def test_search_respects_limit(backend: MemoryBackend) -> None:
    for n in range(8):
        await backend.add(SHOP, f"deploy step {n}")
    assert len(await backend.search(SHOP, "deploy", 3)) == 3
    assert await backend.search(SHOP, "deploy", 0) == []
