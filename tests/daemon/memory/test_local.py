"""The local backend: its file, its FTS query building, and its speed at 100,000 memories."""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from daemon.errors import MemoryBackendError
from daemon.memory import local
from daemon.memory.fts import MAX_TERMS, fts_query
from daemon.memory.local import INDEX_CHARS, LocalBackend, scope_key

SHOP = "project:shop"


def test_fts_query_quotes_every_word_and_ors_them() -> None:
    assert fts_query('deploy "prod" NEAR(x*)') == '"deploy" OR "prod" OR "near" OR "x"'


def test_fts_query_drops_stopwords_unless_nothing_else_is_left() -> None:
    assert fts_query("when do I deploy?") == '"deploy"'
    assert fts_query("what is it") == '"what" OR "is" OR "it"'


@pytest.mark.parametrize("text", ["", "   ", "*", '"""', "🚀🔥", "(", "-+^:"])
def test_fts_query_without_words_is_none(text: str) -> None:
    assert fts_query(text) is None


def test_fts_query_caps_the_number_of_terms() -> None:
    query = fts_query(" ".join(f"word{n}" for n in range(500)))
    assert query is not None and query.count(" OR ") == MAX_TERMS - 1


def test_fts_query_keeps_unicode_words() -> None:
    assert fts_query("déploiement 日本語 🚀") == '"déploiement" OR "日本語"'


async def test_memories_survive_a_reopen(tmp_path: Path) -> None:
    first = LocalBackend(tmp_path / "memory.db")
    added = await first.add(SHOP, "we deploy on Fridays", {"source": "cli"})
    await first.close()

    second = LocalBackend(tmp_path / "memory.db")
    got = await second.get(SHOP, added.id)
    await second.close()
    assert got is not None
    assert (got.text, got.metadata, got.created_at) == ("we deploy on Fridays", {"source": "cli"}, added.created_at)


async def test_a_text_is_stored_once_per_scope(local_backend: LocalBackend) -> None:
    first = await local_backend.add(SHOP, "we deploy on Fridays")
    again = await local_backend.add(SHOP, "we deploy on Fridays")
    elsewhere = await local_backend.add("project:blog", "we deploy on Fridays")
    assert again.id == first.id and elsewhere.id != first.id
    assert [m.id for m in await local_backend.list(SHOP)] == [first.id]
    assert await local_backend.add_many(SHOP, ["we deploy on Fridays", "a new one", "a new one"]) == 1
    assert len(await local_backend.search(SHOP, "deploy Fridays", 10)) == 1


# How memory.db files were made before named migrations: steps counted in `PRAGMA user_version`.
_USER_VERSION_1 = """
CREATE TABLE memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metadata TEXT
);
CREATE INDEX memories_scope ON memories (scope, id);
CREATE VIRTUAL TABLE memories_fts USING fts5 (scope_key, body, content='', tokenize='porter unicode61');
INSERT INTO memories_fts (memories_fts, rank) VALUES ('rank', 'bm25(0.0, 1.0)');
"""
_USER_VERSION_2 = (
    _USER_VERSION_1
    + "ALTER TABLE memories ADD COLUMN digest BLOB;"
    + "CREATE UNIQUE INDEX memories_scope_digest ON memories (scope, digest);"
)
_MEMORY_COLUMNS = ["id", "scope", "text", "created_at", "metadata", "digest", "used_count", "last_used_at"]


def _schema(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(memories' columns, the indexes on it, the recorded migrations) of the file at `path`."""
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(memories)")]
        indexes = sorted(row[1] for row in conn.execute("PRAGMA index_list(memories)"))
        names = [name for (name,) in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    return columns, indexes, names


def test_an_empty_file_migrates_to_the_memory_columns(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "memory.db"
    local.open_db(path).close()
    columns, indexes, names = _schema(path)
    assert columns == _MEMORY_COLUMNS
    assert indexes == ["memories_scope", "memories_scope_digest"]
    assert (
        names == [name for name, _ in local.MIGRATIONS] == ["m001_memories", "m002_dedupe", "m003_vectors", "m004_uses"]
    )
    local.open_db(path).close()  # reopening applies nothing again
    assert _schema(path)[2] == names


async def test_a_file_migrated_by_user_version_keeps_working(tmp_path: Path) -> None:
    """A memory.db at user_version 2 gets both named migrations recorded, none run again."""
    path = tmp_path / "memory.db"
    digest = hashlib.sha256(b"we deploy on Fridays").digest()[:16]
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.executescript(_USER_VERSION_2 + "PRAGMA user_version = 2;")
        conn.execute(
            "INSERT INTO memories VALUES (7, ?, 'we deploy on Fridays', '2026-01-01T00:00:00Z', NULL, ?)",
            (SHOP, digest),
        )
        conn.execute(
            "INSERT INTO memories_fts (rowid, scope_key, body) VALUES (7, ?, 'we deploy on Fridays')",
            (scope_key(SHOP),),
        )
    backend = LocalBackend(path)
    try:
        assert [m.id for m in await backend.search(SHOP, "deploy", 10)] == ["7"]
        assert (await backend.add(SHOP, "we deploy on Fridays")).id == "7"
    finally:
        await backend.close()
    assert _schema(path) == (
        _MEMORY_COLUMNS,
        ["memories_scope", "memories_scope_digest"],
        ["m001_memories", "m002_dedupe", "m003_vectors", "m004_uses"],
    )


async def test_a_file_from_before_dedup_keeps_the_first_of_each_copy(tmp_path: Path) -> None:
    """Files written before migration 2 may hold copies: the upgrade keeps the oldest, index and all."""
    path = tmp_path / "memory.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.executescript(_USER_VERSION_1 + "PRAGMA user_version = 1;")
        for rowid, text in enumerate(["same text here", "other text", "same text here", "same text here"], 1):
            conn.execute("INSERT INTO memories VALUES (?, ?, ?, '2026-01-01T00:00:00Z', NULL)", (rowid, SHOP, text))
            conn.execute(
                "INSERT INTO memories_fts (rowid, scope_key, body) VALUES (?, ?, ?)", (rowid, scope_key(SHOP), text)
            )
    backend = LocalBackend(path)
    try:
        assert sorted(m.id for m in await backend.list(SHOP)) == ["1", "2"]
        assert [m.id for m in await backend.search(SHOP, "same", 10)] == ["1"]
        assert (await backend.add(SHOP, "same text here")).id == "1"
    finally:
        await backend.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')") is not None


async def test_the_file_is_wal_and_its_own(local_backend: LocalBackend, memproxy_home: Path) -> None:
    await local_backend.add(SHOP, "x marks the spot")
    with sqlite3.connect(local_backend.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM memories").fetchone()[0] == 1


async def test_stemming_matches_other_forms(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "Deployments happen on Fridays")
    assert len(await local_backend.search(SHOP, "deploying friday", 5)) == 1


async def test_better_matches_score_higher(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "deploy")
    await local_backend.add(SHOP, "deploy on friday with alice")
    for n in range(20):
        await local_backend.add(SHOP, f"unrelated note {n}")
    found = await local_backend.search(SHOP, "deploy friday alice", 5)
    assert found[0].text == "deploy on friday with alice"
    assert found[0].score is not None and found[1].score is not None and found[0].score > found[1].score > 0


async def test_text_past_the_indexed_head_is_stored_but_not_searchable(local_backend: LocalBackend) -> None:
    text = "head " + "x " * INDEX_CHARS + "tailword"
    added = await local_backend.add(SHOP, text)
    assert await local_backend.search(SHOP, "tailword", 5) == []
    assert [m.id for m in await local_backend.search(SHOP, "head", 5)] == [added.id]
    assert await local_backend.forget(SHOP, added.id) is True
    assert await local_backend.search(SHOP, "head", 5) == []


async def test_concurrent_writes_all_land(local_backend: LocalBackend) -> None:
    await asyncio.gather(*(local_backend.add(SHOP, f"parallel note {n}") for n in range(50)))
    assert len(await local_backend.list(SHOP, limit=100)) == 50


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "memory.db")
    await backend.close()
    with pytest.raises(MemoryBackendError, match="closed"):
        await backend.search(SHOP, "anything", 5)


async def test_a_broken_file_is_a_memory_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(b"this is not a database" * 100)
    backend = LocalBackend(path)
    with pytest.raises(MemoryBackendError, match=r"memory database .*memory\.db"):
        await backend.search(SHOP, "anything", 5)
    await backend.close()


@pytest.mark.slow
async def test_search_over_100k_memories(local_backend: LocalBackend, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(4)
    vocabulary = [f"term{n}" for n in range(5000)] + ["deploy", "server", "database", "cache", "python", "docker"]
    texts = [" ".join(rng.choices(vocabulary, k=30)) for _ in range(100_000)]
    texts[54_321] = "my name is Alice and I deploy on Fridays"
    t0 = time.perf_counter()
    await local_backend.add_many(SHOP, texts)
    await local_backend.add_many("project:blog", texts[:10_000])
    insert_s = time.perf_counter() - t0

    timings = []
    for query in ["when do I deploy? Alice", "database cache python docker server", "term17", "Fridays"] * 5:
        t = time.perf_counter()
        found = await local_backend.search(SHOP, query, 5)
        timings.append((time.perf_counter() - t) * 1000)
        assert found and all(m.scope == SHOP for m in found)
    top = await local_backend.search(SHOP, "Alice Fridays", 5)
    assert top[0].text == "my name is Alice and I deploy on Fridays"
    with capsys.disabled():
        print(
            f"\n100k local memories: insert {insert_s:.1f}s, search median {statistics.median(timings):.1f} ms, "
            f"max {max(timings):.1f} ms"
        )


async def test_a_query_naming_a_scope_key_matches_only_text(local_backend: LocalBackend) -> None:
    await local_backend.add(SHOP, "ordinary note")
    assert await local_backend.search(SHOP, scope_key(SHOP), 5) == []


async def test_a_scope_finds_its_own_best_whether_it_holds_most_of_the_store_or_little(
    local_backend: LocalBackend,
) -> None:
    # SHOP holds most rows (searched by words, then its rows), "project:tiny" few (by its key first);
    # tiny's notes outrank SHOP's, so a LIMIT taken before keeping the scope's rows would lose SHOP's
    tiny = "project:tiny"
    await local_backend.add_many(tiny, [f"deploy deploy deploy friday {n}" for n in range(6)])
    await local_backend.add_many(SHOP, [f"deploy {'friday ' * (n % 3)}note {n}" for n in range(12)])
    await local_backend.add_many(SHOP, [f"unrelated note {n}" for n in range(20)])
    assert await local_backend.run(lambda conn: local_backend._holds_most(conn, SHOP))
    assert not await local_backend.run(lambda conn: local_backend._holds_most(conn, tiny))
    for scope, want in ((SHOP, 5), (tiny, 5)):
        found = await local_backend.search(scope, "deploy friday", want)
        assert len(found) == want and {m.scope for m in found} == {scope}
        scores = [m.score or 0.0 for m in found]
        assert scores == sorted(scores, reverse=True)
    best = await local_backend.search(SHOP, "deploy friday", 5)
    assert all("friday friday" in m.text for m in best[:4])  # n % 3 == 2: the most fridays
    # the other way to the same rows gives the same rows in the same order
    local_backend._shares[SHOP] = (False, 1)
    assert [m.id for m in await local_backend.search(SHOP, "deploy friday", 5)] == [m.id for m in best]
