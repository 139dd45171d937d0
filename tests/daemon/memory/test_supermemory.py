"""The Supermemory backend against a fake Supermemory server on loopback: sessions, failures."""

from __future__ import annotations

import asyncio
import time

import pytest

from daemon.config.settings import ContextRetrieval
from daemon.errors import MemoryBackendError
from daemon.memory.recall import retrieve
from daemon.memory.supermemory_backend import SupermemoryBackend, SupermemorySessions, namespace_for
from tests.daemon.memory.fake_supermemory import API_KEY, FakeSupermemory
from tests.support.memory import supermemory_backend

SHOP = "project:shop"


def test_namespaces_are_url_safe_and_one_to_one() -> None:
    scopes = ["project:shop", "user:alice", "project:shop/user:alice", "user:a_b", "user:a:b", "user:é 🚀"]
    names = [namespace_for(s) for s in scopes]
    assert names[0] == "project_3ashop"
    assert names[2] == "project_3ashop_2fuser_3aalice"
    assert len(set(names)) == len(names)
    assert all(n.replace("_", "").replace(".", "").replace("-", "").isalnum() and n.isascii() for n in names)


async def test_the_sdk_speaks_to_the_configured_base_url(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory)
    await backend.add(SHOP, "we deploy on Fridays")
    await backend.close()
    seen = fake_supermemory.requests[0]
    assert (seen.method, seen.path) == ("POST", "/ns/project_3ashop/document")
    assert seen.authorization == f"Bearer {API_KEY}"
    assert seen.body["content"] == "we deploy on Fridays"
    assert seen.body["metadata"] == {"memproxy_scope": SHOP}


async def test_each_user_keeps_its_own_cookie_session(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory)
    alice, bob = backend.for_user("alice"), backend.for_user("bob")

    await alice.search(SHOP, "one", 5)
    await alice.search(SHOP, "two", 5)
    await bob.search(SHOP, "three", 5)
    await backend.for_user("alice").search(SHOP, "four", 5)  # a later request, a new view: same session
    await bob.search(SHOP, "five", 5)

    cookies = [r.cookie for r in fake_supermemory.requests]
    assert cookies == [None, "session=s1", None, "session=s1", "session=s2"]
    summary = backend.sessions()["supermemory"]
    assert (summary["users"], summary["with_cookies"], summary["errors"]) == (2, 2, 0)
    await backend.close()


async def test_a_500_is_a_memory_backend_error(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory)
    fake_supermemory.fail_next(500)
    with pytest.raises(MemoryBackendError, match="Supermemory search failed: HTTP 500"):
        await backend.search(SHOP, "deploy", 5)
    fake_supermemory.fail_next(503)
    with pytest.raises(MemoryBackendError, match="Supermemory add failed: HTTP 503"):
        await backend.add(SHOP, "deploy")
    # The server recovers; so does the backend.
    await backend.add(SHOP, "deploy on Fridays")
    assert [m.text for m in await backend.search(SHOP, "deploy", 5)] == ["deploy on Fridays"]
    assert backend.sessions()["supermemory"]["errors"] == 2
    await backend.close()


async def test_a_wrong_key_is_a_memory_backend_error(fake_supermemory: FakeSupermemory) -> None:
    backend = SupermemoryBackend(SupermemorySessions("wrong", fake_supermemory.url, max_retries=0))
    with pytest.raises(MemoryBackendError, match="HTTP 401"):
        await backend.list(SHOP)
    await backend.close()


async def test_no_api_key_is_a_clear_error() -> None:
    backend = SupermemoryBackend(SupermemorySessions(None, "http://127.0.0.1:9"))
    with pytest.raises(MemoryBackendError, match="no api_key"):
        await backend.search(SHOP, "deploy", 5)


async def test_a_hanging_server_times_out(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory, timeout=0.3)
    fake_supermemory.hang = True
    t0 = time.perf_counter()
    with pytest.raises(MemoryBackendError, match="timed out"):
        await backend.search(SHOP, "deploy", 5)
    assert time.perf_counter() - t0 < 3
    fake_supermemory.hang = False
    await backend.close()


async def test_retrieval_survives_500_and_hang(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory, timeout=30)
    await backend.add(SHOP, "deploy on Fridays")
    cr = ContextRetrieval(timeout=0.2)

    fake_supermemory.fail_next(500)
    assert await retrieve(backend, SHOP, "deploy", cr) == []

    fake_supermemory.hang = True
    t0 = time.perf_counter()
    assert await retrieve(backend, SHOP, "deploy", cr) == []  # bounded by cr.timeout, not the 30 s client
    assert time.perf_counter() - t0 < 2
    fake_supermemory.hang = False

    assert [m.text for m in await retrieve(backend, SHOP, "deploy", cr)] == ["deploy on Fridays"]
    await backend.close()


async def test_old_sessions_are_closed_past_max_users(fake_supermemory: FakeSupermemory) -> None:
    sessions = SupermemorySessions(API_KEY, fake_supermemory.url, max_retries=0, max_users=2)
    backend = SupermemoryBackend(sessions)
    for user in ("a", "b", "c"):
        await backend.for_user(user).search(SHOP, "x", 1)
    await asyncio.sleep(0)
    assert sessions.summary()["supermemory"]["users"] == 2
    assert sessions.cookies("a") == {}
    assert sessions.cookies("c") == {"session": "s3"}
    await backend.close()


def _seed(
    server: FakeSupermemory, scope: str, count: int, *, source: str | None = "capture", days_old: int = 0
) -> None:
    """`count` documents straight into the fake, `days_old` days old, captured unless `source` is None."""
    from datetime import UTC, datetime, timedelta

    created = (datetime.now(UTC) - timedelta(days=days_old)).isoformat()
    docs = server.docs.setdefault(namespace_for(scope), {})
    for _ in range(count):
        seq = len(server.requests) * 1000 + len(docs) + 1
        meta = {"memproxy_scope": scope, **({"source": source} if source else {})}
        docs[f"seed{seq}"] = {"id": f"seed{seq}", "content": f"seeded {seq}", "metadata": meta}
        docs[f"seed{seq}"].update(createdAt=created, seq=seq)


async def test_forget_deletes_every_copy_that_quotes_the_text(fake_supermemory: FakeSupermemory) -> None:
    """As the local store does: a captured answer that repeated the forgotten text goes with it, in
    this scope only, across more than one page of the list."""
    backend = supermemory_backend(fake_supermemory)
    fact = await backend.add(SHOP, "the release password is kept in vault/shop-release")
    quoting = "User: where is it?\nAssistant: the release password is kept in vault/shop-release"
    await backend.add(SHOP, quoting)
    _seed(fake_supermemory, SHOP, 150, source=None)  # the quoting copy is on the list's second page
    other = await backend.add(SHOP, "the logo is teal")
    elsewhere = await backend.add("project:blog", quoting)
    assert await backend.forget(SHOP, fact.id) is True
    left = {d["content"] for d in fake_supermemory.docs[namespace_for(SHOP)].values()}
    assert other.text in left and len(left) == 151
    assert not any("vault/shop-release" in text for text in left)
    assert await backend.get("project:blog", elsewhere.id) is not None
    await backend.close()


async def test_prune_keeps_the_newest_captured_and_every_note(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory)
    _seed(fake_supermemory, SHOP, 3, source=None, days_old=400)  # notes added by hand, old
    _seed(fake_supermemory, SHOP, 130, days_old=2)
    newest = await backend.add(SHOP, "the newest capture", {"source": "capture"})
    assert await backend.prune_captured(SHOP, 100, None) == 31
    docs = fake_supermemory.docs[namespace_for(SHOP)].values()
    captured = [d for d in docs if d["metadata"].get("source") == "capture"]
    assert len(captured) == 100 and newest.id in {d["id"] for d in captured}
    assert sum(1 for d in docs if "source" not in d["metadata"]) == 3
    await backend.close()


async def test_prune_deletes_captures_past_retention_days(fake_supermemory: FakeSupermemory) -> None:
    backend = supermemory_backend(fake_supermemory)
    _seed(fake_supermemory, SHOP, 4, days_old=40)
    _seed(fake_supermemory, SHOP, 2, source=None, days_old=40)
    _seed(fake_supermemory, SHOP, 5, days_old=1)
    assert await backend.prune_captured(SHOP, None, 30) == 4
    assert len(fake_supermemory.docs[namespace_for(SHOP)]) == 7
    assert await backend.prune_captured(SHOP, None, 30) == 0
    await backend.close()


async def test_capture_caps_a_supermemory_scope(fake_supermemory: FakeSupermemory) -> None:
    """`max_memories_per_scope` holds for Supermemory through the capturer, as for the local store."""
    from daemon.memory.capture import Capturer

    backend = supermemory_backend(fake_supermemory)
    capturer = Capturer(backend, max_per_scope=3)
    told = ["the logo is teal", "deploys are on Fridays", "the database is Postgres", "CI runs on Buildkite"]
    told += ["the staging host is zeppelin", "releases are tagged vYYYY.MM"]
    for fact in told:
        capturer.submit(SHOP, fact, "Noted.")
        await capturer.drain()
    texts = {d["content"] for d in fake_supermemory.docs[namespace_for(SHOP)].values()}
    assert texts == {f"User: {fact}\nAssistant: Noted." for fact in told[-3:]}, texts
    await capturer.close()
    await backend.close()


async def test_a_scope_is_pruned_at_most_once_a_minute(fake_supermemory: FakeSupermemory) -> None:
    """Each prune lists the namespace: a busy scope does not list it on every capture."""
    backend = SupermemoryBackend(SupermemorySessions(API_KEY, fake_supermemory.url, max_retries=0))
    _seed(fake_supermemory, SHOP, 5)
    assert await backend.prune_captured(SHOP, 2, None) == 3
    _seed(fake_supermemory, SHOP, 5)
    listed = len(fake_supermemory.requests)
    assert await backend.prune_captured(SHOP, 2, None) == 0
    assert len(fake_supermemory.requests) == listed
    alice = SupermemoryBackend(backend._sessions, "alice")
    assert await alice.prune_captured("project:blog", 2, None) == 0  # another scope: it runs
    assert len(fake_supermemory.requests) > listed
    await backend.close()
