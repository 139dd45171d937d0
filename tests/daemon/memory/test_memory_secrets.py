"""A pasted key never travels through memory: not into the store, not into another request, not into
`memory list`; and memory does not feed on its own blocks. Through the gateway, real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.memory.local import LocalBackend
from tests.support.app import Served, serve_gateway
from tests.support.config import OPENAI_KEY, gateway_config
from tests.support.memory import wait_stored
from tests.support.upstream import FakeUpstream, text

CLIENT_KEY = "client-presented-key-7c1d93e0aa"
SHAPED = {
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_0123456789abcdefghijABCDEFGHIJ0123",
    "slack": "xoxb-123456789012-abcdefABCDEF",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    "bearer": "Bearer abcdefghijklmnopqrstuvwx0123",
}


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("memory-secrets"), gateway_config(upstream.url, memory=True))


def _ask(served: Served, project: str, question: str, model: str = "claude-sonnet-4-5", **headers: str) -> None:
    body: dict[str, Any] = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": question}]}
    path = "/v1/messages" if model.startswith("claude") else "/v1/chat/completions"
    all_headers = {"x-memproxy-project": project, "anthropic-version": "2023-06-01", **headers}
    r = httpx.post(f"{served.url}{path}", json=body, headers=all_headers, timeout=10)
    assert r.status_code == 200, r.text


def test_a_pasted_key_is_never_stored(served: Served, fake: FakeUpstream, project: str) -> None:
    """A configured key, the key the request presented and key-shaped strings, pasted into a prompt and
    echoed by the answer, are all redacted from the memory the exchange becomes."""
    pasted = " ".join([OPENAI_KEY, CLIENT_KEY, *SHAPED.values()])
    fake.script(text(f"Noted: the deploy day is Friday, and your keys {pasted}"))
    _ask(served, project, f"the deploy day is Friday; my keys are {pasted}", **{"x-api-key": CLIENT_KEY})
    stored = wait_stored(served.home, project, lambda t: "Friday" in t)
    assert len(stored) == 1 and "Friday" in stored[0] and "[redacted]" in stored[0], stored
    for secret in [OPENAI_KEY, CLIENT_KEY, *SHAPED.values()]:
        assert secret.split()[-1] not in stored[0], (secret, stored[0])
    assert "MIIEowIBAAKCAQEA7" not in stored[0]


def test_a_key_stored_before_is_never_sent_upstream(served: Served, fake: FakeUpstream, project: str) -> None:
    """A memory holding a key (stored before keys were redacted, or by hand) is injected without it."""

    async def seed() -> None:
        backend = LocalBackend(served.home / "memory.db")
        await backend.add(f"project:{project}", f"we deploy on Fridays with the key {OPENAI_KEY}")
        await backend.close()

    asyncio.run(seed())
    fake.script(text("On Fridays."))
    _ask(served, project, "when do we deploy?", model="gpt-4o", authorization="Bearer memproxy")
    sent = str(fake.last().body)
    assert "we deploy on Fridays" in sent, sent
    assert OPENAI_KEY not in sent


def test_an_injected_block_is_not_stored_again(served: Served, fake: FakeUpstream, project: str) -> None:
    """An answer that repeats the memory block (or a question that carries one, from a client that
    echoed it) is stored without it."""

    async def seed() -> None:
        backend = LocalBackend(served.home / "memory.db")
        await backend.add(f"project:{project}", "the staging server is zeppelin")
        await backend.close()

    asyncio.run(seed())
    echoed = "Relevant memories for this project:\n- the staging server is zeppelin"
    fake.script(text(f"{echoed}\n\nIt restarts nightly."))
    _ask(served, project, "does the staging server zeppelin restart?")
    stored = wait_stored(served.home, project, lambda t: t.startswith("User:"))
    captured = [t for t in stored if t.startswith("User:")]
    assert len(captured) == 1 and "It restarts nightly." in captured[0], captured
    assert "Relevant memories" not in captured[0], captured


async def test_forget_takes_the_memories_that_quote_it_along(local_backend: LocalBackend) -> None:
    scope = "project:shop"
    fact = await local_backend.add(scope, "the release password is kept in vault/shop-release")
    quoting = "User: where is the release password?\nAssistant: the release password is kept in vault/shop-release"
    await local_backend.add(scope, quoting)
    other = await local_backend.add(scope, "the logo is teal")
    elsewhere = await local_backend.add("project:blog", quoting)
    assert await local_backend.forget(scope, fact.id)
    assert [m.text for m in await local_backend.list(scope)] == [other.text]
    assert await local_backend.search(scope, "release password", 5) == []
    assert await local_backend.get("project:blog", elsewhere.id) is not None  # scopes stay apart
