"""Frozen blocks: a conversation's memory block is decided once per user turn and repeated byte for
byte in its later requests, so the prefix a provider cached is the prefix it sees again."""

from __future__ import annotations

import hashlib
from typing import Any

from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.memory.freeze import Block, FrozenBlocks, turn_key, turn_keys, user_turns
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment

SHOP = "project:shop"


def _turn(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [*messages, {"role": "user", "content": [{"type": "text", "text": text}]}]


async def _augment(body: dict[str, Any], backend: LocalBackend, frozen: FrozenBlocks, **cr: Any) -> Any:
    return await augment(
        body,
        dialect=Dialect.ANTHROPIC,
        model="claude-sonnet-4-5",
        backend=backend,
        scope=SHOP,
        cr=ContextRetrieval(**cr),
        frozen=frozen,
    )


async def test_the_steps_of_a_turn_and_the_turns_after_it_repeat_the_block(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "we deploy the shop on Fridays")
    frozen = FrozenBlocks()
    first = _turn([], "how do we deploy the shop?")
    step1 = await _augment({"messages": first}, local_backend, frozen)
    assert step1.hits == 1
    # the exchange is captured between the steps: a fresh search would find two memories now
    await local_backend.add(SHOP, "User: how do we deploy the shop?\nAssistant: deploy the shop with make")
    tool_round = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ]
    step2 = await _augment({"messages": first + tool_round}, local_backend, frozen)
    assert step2.body["messages"][0] == step1.body["messages"][0]  # byte-identical prefix
    # the next turn: the first turn keeps its block, the new one gets its own (which finds both)
    later = _turn([*first, *tool_round, {"role": "assistant", "content": "done"}], "and deploy the shop again?")
    turn2 = await _augment({"messages": later}, local_backend, frozen)
    assert turn2.body["messages"][0] == step1.body["messages"][0]
    assert "deploy the shop with make" in turn2.body["messages"][-1]["content"][-1]["text"]
    assert turn2.hits == 2


async def test_nothing_found_is_frozen_too(local_backend: LocalBackend) -> None:
    """A memory captured during a turn does not appear in that turn's later steps."""
    frozen = FrozenBlocks()
    body = {"messages": _turn([], "how do we deploy the shop?")}
    assert (await _augment(body, local_backend, frozen)).hits == 0
    await local_backend.add(SHOP, "we deploy the shop on Fridays")
    again = await _augment(body, local_backend, frozen)
    assert again.hits == 0 and again.body == body


async def test_system_strategy_is_decided_once_per_conversation(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "we deploy the shop on Fridays")
    frozen = FrozenBlocks()
    first = _turn([], "how do we deploy the shop?")
    one = await _augment({"messages": first}, local_backend, frozen, injection_strategy="system")
    await local_backend.add(SHOP, "the shop logo is teal")
    later = _turn([*first, {"role": "assistant", "content": "on Fridays"}], "what colour is the shop logo?")
    two = await _augment({"messages": later}, local_backend, frozen, injection_strategy="system")
    assert one.body["system"] == two.body["system"] and "teal" not in two.body["system"]


def test_a_moving_cache_marker_keeps_the_turn_key() -> None:
    plain = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    marked = [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]
    assert turn_key(SHOP, plain, 0, Dialect.ANTHROPIC) == turn_key(SHOP, marked, 0, Dialect.ANTHROPIC)
    assert turn_key(SHOP, plain, 0, Dialect.ANTHROPIC) != turn_key("project:blog", plain, 0, Dialect.ANTHROPIC)


def test_every_turn_key_comes_from_one_pass_and_is_the_hash_of_the_turns_prefix() -> None:
    # each turn's key used to hash its whole prefix anew: quadratic in a long conversation, on the loop
    messages: list[Any] = []
    for n in range(6):
        messages += [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"}]
    messages.append("not a message")  # skipped, as before

    def by_hand(index: int) -> str:
        digest = hashlib.sha256(SHOP.encode())
        for m in messages[: index + 1]:
            if isinstance(m, dict):
                digest.update(b"\x1e" + m["role"].encode() + b"\x1f" + m["content"].encode())
        return digest.hexdigest()

    turns = user_turns(messages, Dialect.OPENAI)
    assert turns == [0, 2, 4, 6, 8, 10]
    assert turn_keys(SHOP, messages, turns, Dialect.OPENAI) == {i: by_hand(i) for i in turns}
    assert turn_key(SHOP, messages, 4, Dialect.OPENAI) == by_hand(4)
    assert turn_key(SHOP, messages, 99, Dialect.OPENAI) == by_hand(99)  # past the end: the whole conversation


def test_frozen_blocks_are_bounded() -> None:
    frozen = FrozenBlocks(maxsize=2)
    for key in "abc":
        frozen.put(key, Block(key))
    assert len(frozen) == 2 and frozen.get("a") is None and frozen.get("c") == Block("c")


def test_a_block_idle_for_longer_than_any_cache_lives_is_decided_again() -> None:
    now = [0.0]
    frozen = FrozenBlocks(idle=3600, clock=lambda: now[0])
    frozen.put("k", Block("old"))
    now[0] = 3000
    assert frozen.get("k") == Block("old")  # a use keeps it
    now[0] = 6000
    assert frozen.get("k") == Block("old")
    now[0] = 9700
    assert frozen.get("k") is None
