"""`router_settings.model_group_alias`: the names tools hard-code, mapped to any deployment."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream

ALIASES = "{claude-opus-4-8: claude-sonnet-4-5, gpt-5.4-nano: gpt-4o-mini, tiny: {model: gpt-4o-mini, hidden: true}}"
USER = [{"role": "user", "content": "which model?"}]


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "litellm"])
def served(
    request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = gateway_config(upstream.url, aliases=ALIASES, fast_path=request.param)
    yield from serve_gateway(tmp_path_factory.mktemp("alias-home"), config)


@pytest.mark.parametrize(
    ("path", "alias", "target", "upstream_path"),
    [
        ("/v1/messages", "claude-opus-4-8", "claude-sonnet-4-5", "/v1/messages"),
        ("/v1/chat/completions", "gpt-5.4-nano", "gpt-4o-mini", "/v1/chat/completions"),
        ("/v1/chat/completions", "tiny", "gpt-4o-mini", "/v1/chat/completions"),
    ],
)
def test_an_alias_is_served_by_the_model_it_names(
    served: Served, fake: FakeUpstream, project: str, path: str, alias: str, target: str, upstream_path: str
) -> None:
    body = {"model": alias, "messages": USER, "max_tokens": 5}
    r = httpx.post(f"{served.url}{path}", json=body, headers={"x-memproxy-project": project}, timeout=15)
    assert r.status_code == 200, r.text
    assert fake.last(upstream_path).body["model"] == target
    row = served.wait_final(project)[0]
    assert row["status"] == "ok" and row["model"] == alias  # the databank keeps what the tool asked for


def test_models_lists_the_aliases_that_are_not_hidden(served: Served) -> None:
    ids = [m["id"] for m in httpx.get(f"{served.url}/v1/models", timeout=5).json()["data"]]
    assert "claude-opus-4-8" in ids and "gpt-5.4-nano" in ids and "tiny" not in ids
