from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from daemon.config.settings import ToolExecution
from daemon.tools.execute import ToolCall, ToolFailure, ToolRunner, narrow_scope
from tests.support.memory import DictBackend

SCOPE = "project:shop"
MEMORIES = {
    SCOPE: ["We deploy on Fridays.", "The shop database is Postgres 16.", "x" * 5000 + " deploy"],
    "project:shop/ops": ["Ops deploy runbook lives in the wiki."],
    "project:other": ["Other project deploys on Mondays."],
    "project:shop/user:bob": ["Bob's private deploy notes."],
}


def runner(backend: DictBackend | None = None, timeout: float = 5.0) -> ToolRunner:
    settings = ToolExecution(timeout_per_tool=timeout)
    return ToolRunner(backend or DictBackend(MEMORIES), SCOPE, settings, backoff=0)


async def run(r: ToolRunner, name: str, arguments: Any) -> dict[str, Any]:
    result = await r.run(ToolCall("c1", name, arguments))
    payload: dict[str, Any] = json.loads(result.content)
    assert result.is_error == ("error" in payload)
    return payload


async def test_search_returns_id_text_score_from_the_requests_scope_only() -> None:
    out = await run(runner(), "supermemoryToolSearch", '{"query": "deploy"}')
    texts = [r["text"] for r in out["results"]]
    assert "We deploy on Fridays." in texts
    assert not any("Other project" in t or "Bob" in t for t in texts)
    assert all(set(r) >= {"id", "text", "score"} for r in out["results"])
    long = next(r for r in out["results"] if r["text"].startswith("xxx"))
    assert long["truncated"] is True and len(long["text"]) == 2000


async def test_several_queries_merge_without_repeats() -> None:
    out = await run(runner(), "supermemoryToolSearch", {"queries": ["deploy Fridays", "Postgres", "deploy"]})
    ids = [r["id"] for r in out["results"]]
    assert len(ids) == len(set(ids)) == 3
    assert out["results"][0]["text"] == "We deploy on Fridays."


async def test_container_tag_narrows_to_a_sub_scope() -> None:
    r = runner()
    for tag in ("ops", "project:shop/ops"):
        out = await run(r, "supermemoryToolSearch", {"query": "deploy", "containerTag": tag})
        assert [m["text"] for m in out["results"]] == ["Ops deploy runbook lives in the wiki."]
    # and GetDocument then finds the memory the narrowed search returned
    found = out["results"][0]["id"]
    doc = await run(r, "supermemoryToolGetDocument", {"document_id": found})
    assert doc["text"] == "Ops deploy runbook lives in the wiki."


@pytest.mark.parametrize("tag", ["project:other", "user:bob", "project:shop/user:bob", "project:shopping", "../x"])
async def test_container_tag_that_would_leave_the_scope_is_refused(tag: str) -> None:
    backend = DictBackend(MEMORIES)
    out = await run(runner(backend), "supermemoryToolSearch", {"query": "deploy", "containerTag": tag})
    assert out["error"]["type"] == "scope_violation"
    assert out["error"]["retryable"] is False
    assert backend.calls == []


def test_narrow_scope_keeps_the_scopes_own_names() -> None:
    assert narrow_scope(SCOPE, None) == narrow_scope(SCOPE, "") == SCOPE
    assert narrow_scope(SCOPE, "shop") == narrow_scope(SCOPE, SCOPE) == SCOPE
    assert narrow_scope("project:shop/user:alice", "ops/2024") == "project:shop/user:alice/ops/2024"
    with pytest.raises(ToolFailure):
        narrow_scope("project:shop/user:alice", "project:shop")


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        ('{"query": "deploy"', "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "`query`"),
        ({"query": "   "}, "non-empty"),
        ({"queries": "deploy"}, "list"),
        ({"queries": ["a", "b", "c", "d", "e", "f"]}, "at most 5"),
    ],
)
async def test_bad_search_arguments_are_a_structured_error(arguments: Any, needle: str) -> None:
    backend = DictBackend(MEMORIES)
    out = await run(runner(backend), "supermemoryToolSearch", arguments)
    error = out["error"]
    assert error["type"] == "invalid_arguments" and needle in error["message"]
    assert error["retryable"] is False and error["hint"].startswith("call again with arguments like {")
    assert backend.calls == []  # bad arguments are never retried, nor sent


async def test_get_document_by_id_and_aliases_and_unknown_id() -> None:
    r = runner()
    for key in ("id", "document_id", "doc_id"):
        doc = await run(r, "supermemoryToolGetDocument", {key: "m2"})
        assert doc == {"id": "m2", "text": "The shop database is Postgres 16.", "created_at": "2025-01-01T00:00:00Z"}
    missing = await run(r, "supermemoryToolGetDocument", {"id": "m999"})
    assert missing["error"]["type"] == "not_found"
    assert missing["error"]["retryable"] is False
    assert missing["error"]["hint"] == "search first with supermemoryToolSearch and use an id it returns"
    # another scope's memory is unknown here, not readable
    assert (await run(r, "supermemoryToolGetDocument", {"id": "m5"}))["error"]["type"] == "not_found"
    assert (await run(r, "supermemoryToolGetDocument", {}))["error"]["type"] == "invalid_arguments"


async def test_an_invented_tool_name_lists_the_available_tools() -> None:
    out = await run(runner(), "supermemoryToolDelete", {"id": "m1"})
    assert out["error"]["type"] == "unknown_tool"
    assert out["error"]["available_tools"] == ["supermemoryToolSearch", "supermemoryToolGetDocument"]


async def test_backend_failures_are_retried_twice_then_reported() -> None:
    flaky = DictBackend(MEMORIES, fail=2)
    result = await runner(flaky).run(ToolCall("c", "supermemoryToolSearch", {"query": "deploy"}))
    assert not result.is_error and result.attempts == 3

    broken = DictBackend(MEMORIES, fail=100)
    result = await runner(broken).run(ToolCall("c", "supermemoryToolSearch", {"query": "deploy"}))
    error = json.loads(result.content)["error"]
    assert error["type"] == "backend_error" and "database is locked" in error["message"]
    assert error["retryable"] is True and error["attempts"] == 3
    assert len(broken.calls) == 3


async def test_each_attempt_gets_timeout_per_tool() -> None:
    slow = DictBackend(MEMORIES, delay=5.0)
    started = asyncio.get_running_loop().time()
    result = await runner(slow, timeout=0.05).run(ToolCall("c", "supermemoryToolGetDocument", {"id": "m1"}))
    # three 0.05 s attempts: far under one 5 s backend call (a loaded machine's late timers aside)
    assert asyncio.get_running_loop().time() - started < 1.0
    error = json.loads(result.content)["error"]
    assert error["type"] == "timeout" and error["retryable"] is True
    assert len(slow.calls) == 3


CONFIGURED = "cfg-secret-value-0b7e4d1f93"
PASTED = (
    f"our key is {CONFIGURED}",
    "openai sk-proj-Abcdefghijklmnop1234567890",
    "anthropic sk-ant-api03-Abcdefghijklmnop1234567890",
    "aws AKIAIOSFODNN7EXAMPLE",
    "github ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "slack xoxb-1234567890-abcdefghij",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "header Authorization: Bearer abcdefghijklmnopqrstuvwx",
)
SECRETS = (
    CONFIGURED,
    "sk-proj-Abcdefghijklmnop1234567890",
    "sk-ant-api03-Abcdefghijklmnop1234567890",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xoxb-1234567890-abcdefghij",
    "MIIEowIBAAKCAQEA",
    "abcdefghijklmnopqrstuvwx",
)


async def test_search_and_get_document_never_hand_the_model_a_key() -> None:
    """A memory stored before its key was known (or by another tool) is cleaned on the way out of
    the tools: configured keys by value, and every common key shape."""
    backend = DictBackend({SCOPE: [f"secret note {text}" for text in PASTED]})
    r = ToolRunner(backend, SCOPE, ToolExecution(), backoff=0, search_limit=10, secrets=[CONFIGURED])
    found = await r.run(ToolCall("c1", "supermemoryToolSearch", {"query": "secret note"}))
    assert json.loads(found.content)["count"] == len(PASTED)
    documents = [
        (await r.run(ToolCall("c2", "supermemoryToolGetDocument", {"document_id": m.id}))).content
        for m in backend.memories[SCOPE]
    ]
    for content in (found.content, *documents):
        assert "[redacted]" in content
        leaked = [s for s in SECRETS if s in content]
        assert not leaked, leaked
