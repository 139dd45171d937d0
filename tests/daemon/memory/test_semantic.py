"""Semantic retrieval (`context_retrieval.embedding_model`): memories found by meaning through the
gateway's own embeddings route (the Router's `aembedding`, an `openai/...` deployment at a local
embeddings server), ranked with the word search, degraded to words when the server is down.

The server here embeds with `concept_embedder` (deterministic: one dimension per group of words), so
CI needs no model; `tests/e2e/test_semantic_memory_e2e.py` does the same with all-MiniLM-L6-v2.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from daemon.config.settings import ConfigFile
from daemon.memory.base import Memory
from daemon.memory.local import LocalBackend
from daemon.memory.semantic import SemanticBackend, fuse
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config, with_embedding_model
from tests.support.embedding_server import EmbeddingServer, concept_embedder
from tests.support.polling import wait_for
from tests.support.upstream import FakeUpstream, text

GROUPS = {
    "release": ["deploy", "release", "ship"],
    "weekday": ["friday", "monday", "day"],
    "money": ["stripe", "payment", "card", "processor"],
    "colour": ["colour", "teal", "shade", "hue"],
    "testing": ["test", "suite", "check"],
}
DEPLOY = "We deploy the shop on Fridays after lunch"
PAYMENTS = "Payments go through Stripe in test mode"
PARAPHRASE = "which day do releases go out?"  # not one word in common with DEPLOY
UNRELATED = "write a haiku about autumn leaves"


@pytest.fixture(scope="module")
def embedder() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(concept_embedder(GROUPS)) as server:
        yield server


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, embedder: EmbeddingServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    # a long timeout: on two loaded cores LiteLLM's first embedding call (its imports) can take seconds
    cr = {"min_similarity": 0.5, "capture": True, "timeout": 20}
    config = with_embedding_model(gateway_config(upstream.url), embedder.url, **cr)
    yield from serve_gateway(tmp_path_factory.mktemp("semantic"), config)


@pytest.fixture
def up(embedder: EmbeddingServer, served: Served) -> Iterator[EmbeddingServer]:
    embedder.down = False
    yield embedder
    embedder.down = False


def ask(served: Served, fake: FakeUpstream, project: str, question: str) -> str:
    """One chat request through the gateway; the messages the upstream received, as text."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": question}]}
    r = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers={"x-memproxy-project": project})
    assert r.status_code == 200, r.text
    return str(fake.last("/v1/chat/completions").body["messages"])


def seed(home: Path, project: str, *texts: str) -> None:
    """What `memproxy memory add` does: the texts stored by another process, without vectors."""

    async def add() -> None:
        backend = LocalBackend(home / "memory.db")
        for t in texts:
            await backend.add(f"project:{project}", t)
        await backend.close()

    asyncio.run(add())


def embedded(home: Path, project: str, fragment: str, *, vector: bool = True) -> bool:
    """Whether the project holds a memory with `fragment`, with its vector (or, `vector=False`, at all)."""
    join = "JOIN memory_vectors v ON v.memory_id = m.id" if vector else ""
    with sqlite3.connect(home / "memory.db") as conn:
        sql = f"SELECT count(*) FROM memories m {join} WHERE m.scope = ? AND instr(m.text, ?) > 0"
        return int(conn.execute(sql, (f"project:{project}", fragment)).fetchone()[0]) > 0


def test_a_paraphrase_sharing_no_word_is_recalled_by_meaning(
    served: Served, up: EmbeddingServer, fake: FakeUpstream, project: str
) -> None:
    seed(served.home, project, DEPLOY, PAYMENTS)
    assert DEPLOY in ask(served, fake, project, "how do we deploy the shop?")  # by words; then the backfill
    wait_for(lambda: embedded(served.home, project, DEPLOY) and embedded(served.home, project, PAYMENTS), timeout=30)
    sent = ask(served, fake, project, PARAPHRASE)
    assert DEPLOY in sent
    assert PAYMENTS not in sent  # similar to nothing asked: below min_similarity


def test_an_unrelated_question_gets_no_memory(
    served: Served, up: EmbeddingServer, fake: FakeUpstream, project: str
) -> None:
    seed(served.home, project, DEPLOY, PAYMENTS)
    ask(served, fake, project, "which card processor?")  # starts embedding the seeded memories
    wait_for(lambda: embedded(served.home, project, DEPLOY) and embedded(served.home, project, PAYMENTS), timeout=30)
    sent = ask(served, fake, project, UNRELATED)
    assert DEPLOY not in sent and PAYMENTS not in sent
    assert served.rows(project)[-1]["memory_hits"] == 0


def test_a_word_in_common_with_a_question_far_in_meaning_is_no_match(
    served: Served, up: EmbeddingServer, fake: FakeUpstream, project: str
) -> None:
    tests = "Run the test suite with make test-all"
    seed(served.home, project, tests, DEPLOY)
    ask(served, fake, project, "which day do we ship?")  # starts embedding the seeded memories
    wait_for(lambda: embedded(served.home, project, tests) and embedded(served.home, project, DEPLOY), timeout=30)
    assert tests not in ask(served, fake, project, "how do bees make honey?")  # "make": by words alone, a hit
    assert tests in ask(served, fake, project, "how do I run the test suite?")  # words and meaning agree


def test_a_captured_exchange_is_embedded_and_found_by_meaning(
    served: Served, up: EmbeddingServer, fake: FakeUpstream, project: str
) -> None:
    fake.script(text("Noted."))
    ask(served, fake, project, "Remember: our logo is teal")
    assert wait_for(lambda: embedded(served.home, project, "logo is teal"), timeout=30)  # embedded as it was stored
    assert "logo is teal" in ask(served, fake, project, "what shade is the brand mark?")


def test_embeddings_down_means_words_only_logged_once_then_backfilled(
    served: Served, up: EmbeddingServer, fake: FakeUpstream, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    memory = served.gateway.memory
    assert isinstance(memory, SemanticBackend)
    up.down = True
    fake.script(text("Noted."))
    ask(served, fake, project, "Remember: we deploy on Fridays")  # served, and captured without a vector
    assert wait_for(lambda: embedded(served.home, project, "deploy on Fridays", vector=False), timeout=30)
    assert not embedded(served.home, project, "deploy on Fridays")
    assert "deploy on Fridays" in ask(served, fake, project, "when do we deploy?")  # the word search still answers
    assert "deploy on Fridays" not in ask(served, fake, project, PARAPHRASE)
    assert caplog.text.count("embedding model embedder unavailable") == 1
    health = httpx.get(f"{served.url}/health").json()
    assert health["sessions"] == {"embeddings": {"model": "embedder", "available": False}}
    up.down = False
    memory.down_until = 0.01  # as if the pause before trying again (30 s) were over
    ask(served, fake, project, "which day do we ship?")  # embeds again, and starts the backfill
    wait_for(lambda: embedded(served.home, project, "deploy on Fridays"), timeout=30)
    assert "deploy on Fridays" in ask(served, fake, project, "which day is release day?")
    assert "answers again" in caplog.text
    assert httpx.get(f"{served.url}/health").json()["sessions"]["embeddings"]["available"] is True


async def test_forget_deletes_the_vector_too(tmp_path: Path) -> None:
    async def embed(texts: list[str]) -> list[list[float]]:
        return concept_embedder(GROUPS)(texts)

    local = LocalBackend(tmp_path / "m.db")
    backend = SemanticBackend(local, embed, model="e", min_similarity=0.5, min_match_ratio=0.2)
    try:
        kept = await backend.add("project:p", DEPLOY)
        gone = await backend.add("project:p", PAYMENTS)
        assert await backend.forget("project:p", gone.id)
        assert [m.id for m in await backend.search("project:p", "which card processor?", 5)] == []
        assert [m.id for m in await backend.search("project:p", PARAPHRASE, 5)] == [kept.id]
    finally:
        await backend.close()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT memory_id FROM memory_vectors").fetchall() == [(int(kept.id),)]


def test_fusion_ranks_a_memory_both_lists_found_first() -> None:
    def m(id: str) -> Memory:
        return Memory(id, f"text {id}", "s", "t")

    fused = fuse([[m("a"), m("b")], [m("c"), m("b")]], 3)
    assert [x.id for x in fused] == ["b", "a", "c"]
    assert fuse([[m("a")], []], 5)[0].score == pytest.approx(1 / 61)


def test_the_embedding_model_must_be_in_the_model_list() -> None:
    with pytest.raises(ValidationError, match="embedding_model 'nope' is no model_name in model_list"):
        ConfigFile.model_validate({"context_retrieval": {"embedding_model": "nope"}})


async def test_no_key_is_sent_to_the_embedding_model(tmp_path: Path) -> None:
    sent: list[str] = []
    configured = "cfg-secret-value-0123456789"

    async def embed(texts: list[str]) -> list[list[float]]:
        sent.extend(texts)
        return concept_embedder(GROUPS)(texts)

    local = LocalBackend(tmp_path / "m.db")
    backend = SemanticBackend(local, embed, model="e", min_similarity=0.5, min_match_ratio=0.2, secrets=[configured])
    try:
        await backend.add("project:p", f"deploy with sk-proj-{'a' * 40} and {configured}")
        await backend.search("project:p", f"which day do we ship? ghp_{'b' * 36}", 5)
        await backend.search("project:p", "x" * 1990 + f" sk-proj-{'c' * 40}", 5)  # a key across the clip
    finally:
        await backend.close()
    assert len(sent) == 3
    assert not any(key in text for text in sent for key in ("sk-proj", "ghp_", configured)), sent
