"""A conversation's memory blocks, decided once and repeated byte for byte, so prompt caches keep hitting.

Providers cache a prompt's prefix: Anthropic tools → system → messages up to each `cache_control`
breakpoint, OpenAI automatically from 1,024 tokens on. A memory block that changes between two
requests of one conversation moves everything after it out of the cache, and without this it would:
every answer is captured, so the next step of an agentic turn finds one more memory. So a block is
decided at the user turn it first goes into and kept here under that turn's key (the scope and the
conversation's text up to the turn). Later requests of the conversation, the tool rounds of the same
turn and the turns after it, get the same bytes in the same places: the prefix the provider cached
the last time is the prefix it sees again. A turn that found nothing keeps "nothing".

Kept in the daemon's memory only (bounded, least recently used out first), and for an hour after its
last use, the longest a provider keeps a prompt cached (Anthropic's 1-hour TTL): past that there is
no cache to protect, and a new conversation that opens with the same words searches afresh. After a
restart the next request of a conversation decides its blocks again: one cache miss for it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.dialects import Dialect
from daemon.memory.base import Memory
from daemon.memory.retrieval import message_text, role_of

FROZEN_MAX = 4096
FROZEN_IDLE_SECONDS = 3600.0
# a conversation this long has its turn keys hashed in a worker thread (recall.augment): sha256 lets go
# of the GIL as it runs, and hashing a 23.8 MiB prompt held the event loop 60-74 ms
LONG_CONVERSATION_CHARS = 256 * 1024


@dataclass(frozen=True)
class Block:
    """The memory block one user turn got ("" for none), and the memories it holds."""

    context: str
    memories: tuple[Memory, ...] = field(default_factory=tuple)


class FrozenBlocks:
    """Turn key → the block that turn got; at most `maxsize`, least recently used out first."""

    def __init__(
        self, maxsize: int = FROZEN_MAX, idle: float = FROZEN_IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.maxsize = maxsize
        self.idle = idle
        self.clock = clock
        self._blocks: OrderedDict[str, tuple[Block, float]] = OrderedDict()

    def get(self, key: str) -> Block | None:
        """The block decided for `key`, if any and used within `idle` seconds."""
        found = self._blocks.get(key)
        if found is None:
            return None
        now = self.clock()
        if now - found[1] > self.idle:
            del self._blocks[key]
            return None
        self._blocks[key] = (found[0], now)
        self._blocks.move_to_end(key)
        return found[0]

    def put(self, key: str, block: Block) -> Block:
        """Keep `block` for `key` (returned, for chaining)."""
        self._blocks[key] = (block, self.clock())
        self._blocks.move_to_end(key)
        while len(self._blocks) > self.maxsize:
            self._blocks.popitem(last=False)
        return block

    def __len__(self) -> int:
        return len(self._blocks)


def texts_of(messages: Sequence[Any], dialect: Dialect) -> list[str | None]:
    """Each message's text (None: not a message), read once for `user_turns` and `turn_keys`."""
    return [message_text(m, dialect) if isinstance(m, dict) else None for m in messages]


def user_turns(messages: Sequence[Any], dialect: Dialect, texts: Sequence[str | None] | None = None) -> list[int]:
    """The indices of the user messages that have text: where blocks go (`texts`: `texts_of(messages)`)."""
    texts = texts_of(messages, dialect) if texts is None else texts
    return [i for i, m in enumerate(messages) if texts[i] and role_of(m, dialect) == "user"]


def turn_key(scope: str, messages: Sequence[Any], index: int, dialect: Dialect) -> str:
    """A hash of `scope` and the text of `messages[: index + 1]`: the same turn of the same
    conversation has the same key in every later request (markers like `cache_control` and tool
    blocks do not count, so a breakpoint moving on does not change it)."""
    return turn_keys(scope, messages, (index,), dialect)[index]


def turn_keys(
    scope: str,
    messages: Sequence[Any],
    indices: Iterable[int],
    dialect: Dialect,
    texts: Sequence[str | None] | None = None,
) -> dict[int, str]:
    """`turn_key` for each of `indices`, in one pass over the conversation: a request carries its
    whole history, and hashing each turn's prefix anew cost a 60-message conversation ~2 ms of the
    event loop on every request (`texts`: `texts_of(messages)`, when already read)."""
    wanted = set(indices)
    keys: dict[int, str] = {}
    digest = hashlib.sha256(scope.encode())
    for position, message in enumerate(messages[: max(wanted, default=-1) + 1]):
        if isinstance(message, dict):
            text = message_text(message, dialect) if texts is None else texts[position] or ""
            digest.update(b"\x1e" + str(role_of(message, dialect)).encode() + b"\x1f" + text.encode())
        if position in wanted:
            keys[position] = digest.copy().hexdigest()
    for index in wanted - keys.keys():  # past the end: the whole conversation, as a slice would have it
        keys[index] = digest.hexdigest()
    return keys
