"""How often and when each memory went into a request: counted on the local store, off the request path."""

from __future__ import annotations

from daemon.memory.local import LocalBackend
from daemon.memory.uses import UseLog
from tests.support.memory import DictBackend

SHOP = "project:shop"


async def test_uses_are_counted_in_batches_and_shown_by_list(local_backend: LocalBackend) -> None:
    one = await local_backend.add(SHOP, "we deploy on Fridays")
    two = await local_backend.add(SHOP, "the logo is teal")
    elsewhere = await local_backend.add("project:blog", "we deploy on Fridays")
    fresh = await local_backend.get(SHOP, one.id)
    assert fresh is not None and (fresh.used_count, fresh.last_used_at) == (0, None)
    uses = UseLog(local_backend, delay=0.05)
    uses.note(SHOP, [one.id, two.id])
    uses.note(SHOP, [one.id])
    uses.note(SHOP, [elsewhere.id])  # another scope's id: never counted here
    uses.note("project:blog", ["not-a-rowid"])
    await uses.close()
    listed = {m.id: m for m in await local_backend.list(SHOP)}
    assert (listed[one.id].used_count, listed[two.id].used_count) == (2, 1)
    last = listed[one.id].last_used_at
    assert last is not None and last >= listed[one.id].created_at
    assert listed[one.id].as_json()["used_count"] == 2
    blog = await local_backend.get("project:blog", elsewhere.id)
    assert blog is not None and blog.used_count == 0
    found = await local_backend.search(SHOP, "deploy Fridays", 5)
    assert found[0].used_count == 2  # search results carry the counts too


async def test_note_returns_at_once_and_a_burst_is_one_write(local_backend: LocalBackend) -> None:
    memory = await local_backend.add(SHOP, "we deploy on Fridays")
    writes: list[dict[str, int]] = []
    original = local_backend.mark_used

    async def counted(scope: str, counts: dict[str, int], when: str) -> None:
        writes.append(counts)
        await original(scope, counts, when)

    local_backend.mark_used = counted  # type: ignore[method-assign]
    uses = UseLog(local_backend, delay=0.05)
    for _ in range(100):
        uses.note(SHOP, [memory.id])
    assert writes == []  # nothing written on the caller's turn
    await uses.close()  # waits for the batch
    assert writes == [{memory.id: 100}]


async def test_a_backend_that_does_not_count_is_left_alone() -> None:
    uses = UseLog(DictBackend({SHOP: ["x"]}))  # type: ignore[arg-type]
    assert not uses.counts
    uses.note(SHOP, ["m1"])
    await uses.close()
    assert uses.written == 0
