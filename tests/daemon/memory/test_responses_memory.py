"""Codex (the Responses API, `/v1/responses`) shares the project's memory with the other tools: recall
and capture read `input` (a string or items) and `instructions`. Through the gateway, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest

from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.memory.freeze import FrozenBlocks
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.memory import wait_stored
from tests.support.upstream import FakeUpstream, text

CODEX_INPUT = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "when do I deploy the shop?"}]},
]


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("responses-memory"), gateway_config(upstream.url, memory=True))


def _post(served: Served, path: str, body: dict[str, Any], project: str) -> None:
    headers = {"x-memproxy-project": project, "anthropic-version": "2023-06-01", "authorization": "Bearer memproxy"}
    r = httpx.post(f"{served.url}{path}", json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text


def _tell(served: Served, fake: FakeUpstream, path: str, body: dict[str, Any], project: str, answer: str) -> None:
    """One exchange, answered `answer`, and wait until it is captured."""
    fake.script(text(answer))
    _post(served, path, body, project)
    wait_stored(served.home, project, lambda t: answer in t)


def _claude(question: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": question}]}


def test_codex_recalls_what_claude_code_was_told(served: Served, fake: FakeUpstream, project: str) -> None:
    _tell(served, fake, "/v1/messages", _claude("I deploy the shop on Fridays"), project, "Noted: Fridays.")
    fake.script(text("On Fridays."))
    _post(served, "/v1/responses", {"model": "gpt-4o", "instructions": "You are Codex.", "input": CODEX_INPUT}, project)
    sent = fake.last("/v1/responses").body
    assert sent["instructions"] == "You are Codex."  # the cached prefix stays as it was
    last = sent["input"][-1]
    assert last["content"][0] == CODEX_INPUT[-1]["content"][0]
    assert "I deploy the shop on Fridays" in last["content"][-1]["text"], sent


def test_claude_code_recalls_what_codex_was_told(served: Served, fake: FakeUpstream, project: str) -> None:
    told = {"model": "gpt-4o", "input": "the staging database is pg-staging-2"}
    _tell(served, fake, "/v1/responses", told, project, "Noted: pg-staging-2.")
    fake.script(text("pg-staging-2"))
    asked = _claude("which staging database?")
    _post(served, "/v1/messages", asked, project)
    assert "the staging database is pg-staging-2" in str(fake.last("/v1/messages").body["messages"][-1])


@pytest.mark.parametrize("strategy", ["user_suffix", "system"])
async def test_a_string_input_gets_the_block(
    local_backend: LocalBackend, strategy: Literal["user_suffix", "system"]
) -> None:
    await local_backend.add("project:shop", "we deploy the shop on Fridays")
    body = {"model": "gpt-4o", "instructions": "Be brief.", "input": "when do we deploy the shop?"}
    cr = ContextRetrieval(injection_strategy=strategy)
    got = await augment(
        body,
        dialect=Dialect.OPENAI,
        model="gpt-4o",
        backend=local_backend,
        scope="project:shop",
        cr=cr,
        frozen=FrozenBlocks(),
    )
    assert got.hits == 1 and got.question == "when do we deploy the shop?"
    if strategy == "system":
        assert got.body["input"] == body["input"] and "Fridays" in got.body["instructions"]
        assert got.body["instructions"].startswith("Be brief.")
    else:
        assert got.body["instructions"] == "Be brief."
        assert got.body["input"].startswith("when do we deploy the shop?") and "Fridays" in got.body["input"]
