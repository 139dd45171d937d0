"""`memproxy stats --unrouted`: the requested names no deployment serves, and the alias to add."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from daemon.usage.record import UsageRecord
from daemon.usage.unrouted import closest_model, unrouted_names, unrouted_report, yaml_key
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.databank import write_records
from tests.support.upstream import FakeUpstream, error

CONFIGURED = ["gpt-*", "claude-sonnet-4-5", "gpt-4o-mini", "llama3.1"]


def _unrouted(n: int, model: str, client: str | None, project: str = "shop") -> UsageRecord:
    started = f"2025-03-01T10:0{n}:00.000Z"
    return UsageRecord(
        id=f"u{n}", started_at=started, project=project, client=client, model=model, status="error", http_status=404
    )


def test_only_requests_that_found_no_deployment_are_listed(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    write_records(
        db,
        _unrouted(1, "claude-opus-4-8", "claude"),
        _unrouted(2, "claude-opus-4-8", "opencode", project="blog"),
        _unrouted(3, "claude-opus-4-8", "claude"),
        _unrouted(4, "gpt-5.4-nano", None),
        # an upstream's own 404 had a deployment (a provider): the name is routed
        UsageRecord(id="x", model="gpt-4o", provider="openai", status="error", http_status=404),
        UsageRecord(id="y", model="claude-sonnet-4-5", provider="anthropic"),
        UsageRecord(id="z", model="nope", status="error", http_status=400),
    )
    assert unrouted_names(db) == [
        {
            "model": "claude-opus-4-8",
            "requests": 3,
            "last_seen": "2025-03-01T10:03:00.000Z",
            "clients": ["claude", "opencode"],
            "projects": ["blog", "shop"],
        },
        {
            "model": "gpt-5.4-nano",
            "requests": 1,
            "last_seen": "2025-03-01T10:04:00.000Z",
            "clients": [],
            "projects": ["shop"],
        },
    ]
    assert [r["model"] for r in unrouted_names(db, project="blog")] == ["claude-opus-4-8"]
    since = datetime(2025, 3, 1, 10, 4, tzinfo=UTC)
    assert [r["model"] for r in unrouted_names(db, since=since)] == ["gpt-5.4-nano"]
    assert unrouted_names(db, until=datetime(2025, 3, 1, 10, 1, tzinfo=UTC)) == []
    assert unrouted_names(tmp_path / "none-yet.db") == []


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("claude-opus-4-8", "claude-sonnet-4-5"),
        ("claude-haiku-4-5-20251001", "claude-sonnet-4-5"),
        ("gpt-5.4-nano", "gpt-4o-mini"),
        ("llama3", "llama3.1"),
    ],
)
def test_the_suggested_alias_points_at_the_closest_configured_model(name: str, target: str) -> None:
    assert closest_model(name, CONFIGURED) == target


def test_only_patterns_configured_means_no_suggestion() -> None:
    assert closest_model("claude-opus-4-8", ["gpt-*", "*"]) is None


def test_yaml_keys_are_quoted_only_when_they_must_be() -> None:
    assert yaml_key("claude-opus-4-8") == "claude-opus-4-8"
    assert yaml_key("openrouter/anthropic/claude") == "openrouter/anthropic/claude"
    assert yaml_key("a: b") == '"a: b"'
    assert yaml_key("yes") == '"yes"'
    assert yaml_key("4o") == '"4o"'


def test_the_report_leaves_out_names_that_route_now_and_gives_the_yaml_block() -> None:
    rows = [
        {"model": "claude-opus-4-8", "requests": 3, "last_seen": "", "clients": ["claude"], "projects": ["shop"]},
        {"model": "tiny", "requests": 1, "last_seen": "", "clients": [], "projects": ["shop"]},
        {"model": "x: y", "requests": 1, "last_seen": "", "clients": [], "projects": ["shop"]},
    ]
    report = unrouted_report(rows, CONFIGURED, routes=lambda name: name == "tiny")  # an alias added since
    assert [(n["model"], n["suggested_model"]) for n in report["unrouted"]] == [
        ("claude-opus-4-8", "claude-sonnet-4-5"),
        ("x: y", closest_model("x: y", CONFIGURED)),
    ]
    assert report["config"].startswith(
        "router_settings:\n  model_group_alias:\n    claude-opus-4-8: claude-sonnet-4-5\n"
    )
    assert '    "x: y": ' in report["config"]
    assert unrouted_report(rows[1:2], CONFIGURED, routes=lambda name: True) == {"unrouted": [], "config": ""}


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("unrouted-home"), gateway_config(upstream.url))


def test_the_gateway_records_an_unknown_name_as_unrouted_and_an_upstream_404_as_routed(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    headers = {"x-memproxy-project": project, "user-agent": "opencode/0.15.2"}
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    for path in ("/v1/chat/completions", "/v1/messages"):
        r = httpx.post(f"{served.url}{path}", json={**body, "model": "gemini-2.5-pro"}, headers=headers, timeout=15)
        assert r.status_code == 404
    fake.script(error(404, "The model `gpt-4o-2099` does not exist"))
    r = httpx.post(f"{served.url}/v1/chat/completions", json={**body, "model": "gpt-4o-2099"}, headers=headers)
    assert r.status_code == 404
    assert len(served.wait_final(project)) == 3
    found = unrouted_names(served.home / "memproxy.db", project=project)
    assert [(r["model"], r["requests"], r["clients"]) for r in found] == [("gemini-2.5-pro", 2, ["opencode"])]
