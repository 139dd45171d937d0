"""Prompt caching as the providers bill it, for the fake: which input tokens were read, written, uncached.

Tokens are whitespace-separated words of each element's canonical JSON (`cache_control` left out: a
marker moving from one message to the next changes no cached bytes).

- Anthropic: the prompt is the sequence tools → system → messages, split into blocks. Each block
  marked `cache_control` is a breakpoint (`ttl` "5m" by default, or "1h"), and writes its prefix to
  the cache. The longest cached prefix (hashed exactly, unexpired) ending at a breakpoint or at one of
  the 20 blocks before it is read; the rest up to the last breakpoint is written; everything else is
  uncached input. Prefixes
  shorter than `min_tokens` are not cached, as the API does below 1,024 tokens.
- OpenAI: automatic. The prompt is tools, then the messages (or `instructions` + `input`); the
  longest previously seen prefix of at least `min_tokens`, in steps of 128 tokens, is read
  (`cached_tokens`); nothing is billed as a write. Entries live 5 minutes from their last use.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

_TTL = {"5m": 300.0, "1h": 3600.0}
LOOKBACK = 20  # blocks before a breakpoint where Anthropic also looks for a cached prefix


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if k != "cache_control"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _tokens(value: Any) -> list[str]:
    return json.dumps(_canonical(value), ensure_ascii=False).split()


def _blocks(items: Any) -> list[Any]:
    """A message's content blocks, or the items of a list, one block each."""
    if isinstance(items, str):
        return [{"type": "text", "text": items}]
    return list(items) if isinstance(items, list) else []


def _anthropic_blocks(body: dict[str, Any]) -> list[tuple[list[str], str | None]]:
    """(tokens, ttl if a breakpoint) for every block of the prompt, in cache order."""
    out: list[tuple[list[str], str | None]] = []

    def add(block: Any, prefix: list[str]) -> None:
        marker = block.get("cache_control") if isinstance(block, dict) else None
        ttl = (marker.get("ttl") or "5m") if isinstance(marker, dict) else None
        out.append((prefix + _tokens(block), ttl))

    for tool in body.get("tools") or []:
        add(tool, [])
    for block in _blocks(body.get("system")):
        add(block, [])
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        for i, block in enumerate(_blocks(message.get("content"))):
            add(block, [str(message.get("role"))] if i == 0 else [])
    return out


class PromptCache:
    """One provider-side cache; `usage(route, body)` is the usage a bill would show for `body`."""

    def __init__(self, *, min_tokens: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_tokens = min_tokens
        self.clock = clock
        self._entries: dict[str, float] = {}  # prefix hash -> expiry

    def _hit(self, key: str) -> bool:
        expiry = self._entries.get(key)
        return expiry is not None and expiry > self.clock()

    def _keep(self, key: str, ttl: float) -> None:
        self._entries[key] = max(self._entries.get(key, 0.0), self.clock() + ttl)

    def usage(self, route: str, body: dict[str, Any]) -> dict[str, int]:
        """`input_tokens` (uncached), `cache_read_tokens`, `cache_write_tokens`, `cache_write_1h_tokens`."""
        if route == "/messages":
            return self._anthropic(body)
        return self._openai(body)

    def _anthropic(self, body: dict[str, Any]) -> dict[str, int]:
        digest = hashlib.sha256()
        total = 0
        prefixes: list[tuple[str, int]] = []  # (prefix hash, prefix tokens) after each block
        points: list[tuple[int, str]] = []  # (block index, ttl) of each breakpoint
        for tokens, ttl in _anthropic_blocks(body):
            digest.update(" ".join(tokens).encode() + b"\x00")
            total += len(tokens)
            prefixes.append((digest.hexdigest(), total))
            if ttl is not None and total >= self.min_tokens:
                points.append((len(prefixes) - 1, ttl))
        # a breakpoint also hits a prefix cached at any of the LOOKBACK blocks before it
        read = 0
        for index, _ttl in points:
            for key, size in prefixes[max(0, index - LOOKBACK) : index + 1]:
                if self._hit(key):
                    read = max(read, size)
        write = write_1h = 0
        if points:
            _key, last_size = prefixes[points[-1][0]]
            if read < last_size:
                write = last_size - read
                write_1h = write if points[-1][1] == "1h" else 0
        for index, ttl in points:
            self._keep(prefixes[index][0], _TTL.get(ttl, 300.0))
        return {
            "input_tokens": max(1, total - read - write),
            "cache_read_tokens": read,
            "cache_write_tokens": write,
            "cache_write_1h_tokens": write_1h,
        }

    def _openai(self, body: dict[str, Any]) -> dict[str, int]:
        parts: list[Any] = [*(body.get("tools") or []), body.get("instructions"), *_blocks(body.get("input"))]
        parts += body.get("messages") or []
        tokens = [t for part in parts if part is not None for t in _tokens(part)]
        digest = hashlib.sha256()
        read, seen = 0, 0
        keys: list[str] = []
        for end in range(self.min_tokens, len(tokens) + 1, 128):
            digest.update(" ".join(tokens[seen:end]).encode() + b"\x00")
            seen = end
            key = digest.hexdigest()
            keys.append(key)
            if self._hit(key):
                read = end
        for key in keys:
            self._keep(key, 300.0)
        return {"input_tokens": max(1, len(tokens) - read), "cache_read_tokens": read}
