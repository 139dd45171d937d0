"""Semantic retrieval for the local store: embeddings beside the words, ranked together.

`SemanticBackend` wraps a `LocalBackend`. A search runs the FTS5 word search (kept only where the
memory holds `min_match_ratio` of the query's terms) and, at the same time, embeds the query and
compares it with every embedded memory of the scope (kept only at `min_similarity` or above); the two
lists are merged by reciprocal rank fusion, so a memory both find ranks first and a paraphrase that
shares no word with its fact is still found. Unrelated questions reach neither threshold and get
nothing.

Embeddings come from `embed` (the gateway's own embeddings route: `daemon.gateway.embedder`); the
vectors live in the memory file (`memory_vectors`: float32, unit length) and are compared on the
store's thread by one numpy product (sqlite-vec cannot load: this Python's sqlite3 has no
`enable_load_extension`); reading 10,000 vectors of 384 dimensions from the file is most of it.
No key (configured, or shaped like one) is sent to the embedding model. Embedding never fails a
search or a capture: when the upstream is down, the search is words only
(logged once, tried again after `RETRY_AFTER` seconds) and the memory is stored without a vector;
`backfill` embeds such memories (and those `memory add` stored from the CLI) once the upstream answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from array import array
from collections.abc import Awaitable, Callable, Iterable, Sequence
from operator import mul
from typing import Any

from daemon.memory.base import Memory, MemoryBackend
from daemon.memory.clean import scrub
from daemon.memory.local import LocalBackend
from daemon.memory.retrieval import relevant

log = logging.getLogger("memproxy.memory")

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]

# Reciprocal rank fusion's constant (Cormack et al.): a memory's score is the sum of 1 / (K + rank).
RRF_K = 60
# Each list contributes this many candidates per result asked for.
CANDIDATES = 4
# Only the head of a long memory is embedded (embedding models read 256 to 8k tokens).
EMBED_CHARS = 2000
BACKFILL_BATCH = 64
# A memory found by its words needs this share of `min_similarity` to be kept (see `search`).
WORD_HIT_SHARE = 0.5
# After an embedding failure, searches are words only for this long before the upstream is tried again.
RETRY_AFTER = 30.0


def unit(vector: Sequence[float]) -> array[float]:
    """`vector` scaled to length 1, as float32 (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return array("f", (x / norm for x in vector))


def fuse(lists: Iterable[Sequence[Memory]], limit: int, k: int = RRF_K) -> list[Memory]:
    """Reciprocal rank fusion of best-first lists: the top `limit`, each memory once, score the fused one."""
    scores: dict[str, float] = {}
    found: dict[str, Memory] = {}
    for memories in lists:
        for rank, memory in enumerate(memories, start=1):
            scores[memory.id] = scores.get(memory.id, 0.0) + 1.0 / (k + rank)
            found.setdefault(memory.id, memory)
    best = sorted(scores, key=lambda id: -scores[id])[:limit]
    return [Memory(m.id, m.text, m.scope, m.created_at, scores[m.id], m.metadata) for m in (found[i] for i in best)]


def nearest(
    conn: sqlite3.Connection, scope: str, model: str, query: array[float], limit: int, min_similarity: float
) -> list[Memory]:
    """The `limit` memories of `scope` most similar to `query` (cosine, at least `min_similarity`):
    one matrix-vector product over the scope's vectors (numpy; 10,000 x 384 in a few ms)."""
    import numpy as np

    rows = conn.execute(
        "SELECT v.memory_id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.memory_id "
        "WHERE m.scope = ? AND v.model = ?",
        (scope, model),
    )
    size = len(query) * query.itemsize
    ids, blobs = [], []
    for rowid, blob in rows:
        if len(blob) == size:  # a vector of another length came from another model's dimensions
            ids.append(rowid)
            blobs.append(blob)
    if not ids:
        return []
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), len(query))
    scores = matrix @ np.frombuffer(query.tobytes(), dtype=np.float32)
    top = np.argpartition(-scores, limit - 1)[:limit] if limit < len(ids) else np.arange(len(ids))
    best = sorted(((float(scores[i]), ids[i]) for i in top if scores[i] >= min_similarity), reverse=True)
    if not best:
        return []
    marks = ",".join("?" * len(best))
    sql = f"SELECT id, text, scope, created_at, metadata FROM memories WHERE id IN ({marks}) AND scope = ?"
    by_id = {row[0]: row for row in conn.execute(sql, [rowid for _, rowid in best] + [scope])}
    return [
        Memory(str(rowid), by_id[rowid][1], scope, by_id[rowid][3], similarity, json.loads(by_id[rowid][4] or "null"))
        for similarity, rowid in best
        if rowid in by_id
    ]


def similarities(conn: sqlite3.Connection, ids: Sequence[str], model: str, query: array[float]) -> dict[str, float]:
    """The cosine similarity to `query` of each of `ids` that has a vector for `model`."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT memory_id, vector FROM memory_vectors WHERE model = ? AND memory_id IN ({marks})", [model, *ids]
    )
    found = {}
    for rowid, blob in rows:
        vector = array("f")
        vector.frombytes(blob)
        if len(vector) == len(query):
            found[str(rowid)] = sum(map(mul, query, vector))
    return found


def _store_vectors(conn: sqlite3.Connection, model: str, pairs: list[tuple[int, array[float]]]) -> None:
    with conn:
        conn.executemany(
            "INSERT OR REPLACE INTO memory_vectors (memory_id, model, vector) "
            "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?)",
            [(rowid, model, vector.tobytes(), rowid) for rowid, vector in pairs],
        )


def _unembedded(conn: sqlite3.Connection, model: str, limit: int) -> list[tuple[int, str]]:
    sql = (
        "SELECT m.id, m.text FROM memories m LEFT JOIN memory_vectors v ON v.memory_id = m.id AND v.model = ? "
        "WHERE v.memory_id IS NULL ORDER BY m.id DESC LIMIT ?"
    )
    return [(int(rowid), text) for rowid, text in conn.execute(sql, (model, limit))]


class SemanticBackend:
    """A `LocalBackend` whose searches also rank by meaning. It applies both relevance thresholds
    itself (`filters_itself`), so recall does not filter its results by words again."""

    filters_itself = True
    folds_near_duplicates = True

    def __init__(
        self,
        local: LocalBackend,
        embed: Embed,
        *,
        model: str,
        min_similarity: float,
        min_match_ratio: float,
        embed_timeout: float = 1.5,
        secrets: Iterable[str] = (),
    ) -> None:
        self.local = local
        self.embed = embed
        self.model = model
        self.min_similarity = min_similarity
        self.min_match_ratio = min_match_ratio
        self.embed_timeout = embed_timeout
        self.secrets = secrets  # keys (a live view) never sent to the embedding model; key shapes neither
        self.retry_after = RETRY_AFTER
        self.down_until = 0.0  # monotonic time before which the embedder is not asked (it failed)
        self._backfill: asyncio.Task[int] | None = None
        # the newest memory id when a backfill last found nothing left to embed: until a memory is
        # added (or an embedding fails), a search does not look again (that scan took 75 ms at 100k)
        self._complete_upto: int | None = None

    # --- embedding, never raising ----------------------------------------------------------------

    async def _vectors(self, texts: list[str]) -> list[array[float]] | None:
        if time.monotonic() < self.down_until:
            return None
        known = tuple(self.secrets)
        try:
            # scrubbed before it is clipped (with room past the clip), so no key is sent cut in half
            sent = [scrub(t[: EMBED_CHARS + 4096], known)[:EMBED_CHARS] for t in texts]
            got = await asyncio.wait_for(self.embed(sent), self.embed_timeout)
            if len(got) != len(texts):
                raise ValueError(f"{len(got)} embeddings for {len(texts)} texts")
        except Exception as exc:
            if not self.down_until:
                log.warning(
                    "embedding model %s unavailable (%s); memory recalls by words only until it answers",
                    self.model,
                    scrub(str(exc), known) or type(exc).__name__,
                )
            self.down_until = time.monotonic() + self.retry_after
            self._complete_upto = None  # what is stored meanwhile has no vector: look again once it answers
            return None
        if self.down_until:
            log.warning("embedding model %s answers again; memory recalls by meaning too", self.model)
            self.down_until = 0.0
        return [unit(v) for v in got]

    async def backfill(self, batch: int = BACKFILL_BATCH) -> int:
        """Embed every memory that has no vector for `model` yet, `batch` at a time; how many were.
        Stops (quietly, for a later call) when the embedder fails."""
        done = 0
        newest = await self.local.run(
            lambda c: int(c.execute("SELECT coalesce(max(id), 0) FROM memories").fetchone()[0])
        )
        if newest == self._complete_upto:
            return done
        while True:
            rows = await self.local.run(lambda c: _unembedded(c, self.model, batch))
            if not rows:
                self._complete_upto = newest
                return done
            vectors = await self._vectors([text for _, text in rows])
            if vectors is None:
                return done
            pairs = [(rowid, v) for (rowid, _), v in zip(rows, vectors, strict=True)]
            await self._store(pairs)
            done += len(pairs)

    async def _store(self, pairs: list[tuple[int, array[float]]]) -> None:
        await self.local.run(lambda c: _store_vectors(c, self.model, pairs))

    def _start_backfill(self) -> None:
        if self._backfill is None or self._backfill.done():
            self._backfill = asyncio.get_running_loop().create_task(self.backfill(), name="memproxy-memory-backfill")

    # --- the interface ---------------------------------------------------------------------------

    async def add(self, scope: str, text: str, metadata: dict[str, Any] | None = None) -> Memory:
        """Store `text`, then its vector (left to `backfill` when the embedder is down)."""
        memory = await self.local.add(scope, text, metadata)
        vectors = await self._vectors([text])
        if vectors is not None:
            await self._store([(int(memory.id), vectors[0])])
        return memory

    async def add_many(self, scope: str, texts: Iterable[str]) -> int:
        """Store many texts, then embed whatever has no vector yet."""
        added = await self.local.add_many(scope, texts)
        await self.backfill()
        return added

    async def search(self, scope: str, query: str, limit: int) -> list[Memory]:
        """Words and meaning, fused; each list cut by its own threshold. Words only when embedding fails."""
        if limit <= 0 or not query.strip():
            return []
        wanted = max(limit * CANDIDATES, 20)
        words_task = asyncio.ensure_future(self.local.search(scope, query, wanted))
        vectors = await self._vectors([query])
        by_words = relevant(await words_task, query, self.min_match_ratio)
        if vectors is None:
            return by_words[:limit]
        q, ids = vectors[0], [m.id for m in by_words]

        def compare(conn: sqlite3.Connection) -> tuple[list[Memory], dict[str, float]]:
            near = nearest(conn, scope, self.model, q, wanted, self.min_similarity)
            return near, similarities(conn, ids, self.model, q)

        by_meaning, word_hits = await self.local.run(compare)
        # a word in common with a question the model finds far from it is a coincidence ("how do bees
        # make honey?" and "make test-all"); a memory not embedded yet keeps its word hit
        floor = self.min_similarity * WORD_HIT_SHARE
        by_words = [m for m in by_words if word_hits.get(m.id, floor) >= floor]
        self._start_backfill()
        return fuse([by_words, by_meaning], limit)

    async def get(self, scope: str, id: str) -> Memory | None:
        return await self.local.get(scope, id)

    async def list(self, scope: str, limit: int = 50) -> list[Memory]:
        return await self.local.list(scope, limit)

    async def forget(self, scope: str, id: str) -> bool:
        return await self.local.forget(scope, id)

    async def forget_all(self, scope: str) -> int:
        return await self.local.forget_all(scope)

    async def prune_captured(self, scope: str, keep: int | None, retention_days: int | None) -> int:
        return await self.local.prune_captured(scope, keep, retention_days)

    def for_user(self, user_id: str) -> MemoryBackend:
        return self

    def sessions(self) -> dict[str, Any]:
        """`/health` `sessions`: the embedding model, and whether searches use it now (False: words only)."""
        return {"embeddings": {"model": self.model, "available": time.monotonic() >= self.down_until}}

    async def close(self) -> None:
        if self._backfill is not None:
            self._backfill.cancel()
            await asyncio.gather(self._backfill, return_exceptions=True)
        await self.local.close()
