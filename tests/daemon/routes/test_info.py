"""`GET /memory-routing/info`: what a request with given headers is attributed to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import USER_ID_MAPPING, gateway_config
from tests.support.upstream import FakeUpstream


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("info-home"), gateway_config(upstream.url, extra=USER_ID_MAPPING))


def test_project_header_and_user_pattern(served: Served) -> None:
    info = httpx.get(
        f"{served.url}/memory-routing/info",
        headers={"x-memproxy-project": "shop", "user-agent": "pytest-agent/1.0"},
    ).json()
    assert info["project"] == "shop"
    assert info["user_id"] == "tester"
    assert info["matched_pattern"] == "^pytest-agent/"
    assert info["memory_scope"] == "project:shop"


def test_custom_header_wins_and_defaults_apply(served: Served) -> None:
    info = httpx.get(
        f"{served.url}/memory-routing/info",
        headers={"x-memory-user-id": "alice", "user-agent": "pytest-agent/1.0"},
    ).json()
    assert (info["project"], info["user_id"], info["matched_pattern"]) == ("default", "alice", None)


def test_invalid_project_is_a_clear_400(served: Served) -> None:
    response = httpx.get(f"{served.url}/memory-routing/info", headers={"x-memproxy-project": "../etc"})
    assert response.status_code == 400
    assert "invalid project name" in response.json()["error"]["message"]
