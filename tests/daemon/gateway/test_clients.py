"""Which tool made a request: the `client` column holds its short name, `user_agent` what it sent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "who am I?"}]}


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("clients-home"), gateway_config(upstream.url))


@pytest.mark.parametrize(
    ("headers", "client", "user_agent"),
    [
        ({"user-agent": "OpenAI/Python 2.20.0", "x-memproxy-client": "aider"}, "aider", "OpenAI/Python 2.20.0"),
        ({"user-agent": "claude-cli/2.0.14 (external, cli)"}, "claude", "claude-cli/2.0.14 (external, cli)"),
        (
            {"user-agent": "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64)"},
            "codex",
            "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64)",
        ),
        ({"user-agent": "OpenAI/Python 2.20.0"}, "openai-python", "OpenAI/Python 2.20.0"),
        ({"user-agent": ""}, None, ""),
    ],
)
def test_the_row_names_the_client_and_keeps_its_user_agent(
    served: Served, fake: FakeUpstream, project: str, headers: dict[str, str], client: str | None, user_agent: str
) -> None:
    r = httpx.post(
        f"{served.url}/v1/chat/completions", json=CHAT, headers={"x-memproxy-project": project, **headers}, timeout=15
    )
    assert r.status_code == 200, r.text
    (row,) = served.wait_final(project)
    assert (row["client"], row["user_agent"] or "") == (client, user_agent)


def test_an_error_row_names_its_client_too(served: Served, fake: FakeUpstream, project: str) -> None:
    headers = {"x-memproxy-project": project, "x-memproxy-client": "opencode", "user-agent": "ai-sdk/5.0"}
    r = httpx.post(f"{served.url}/v1/chat/completions", json={**CHAT, "model": "no-such-model"}, headers=headers)
    assert r.status_code == 404
    (row,) = served.wait_final(project)
    assert (row["status"], row["client"], row["user_agent"]) == ("error", "opencode", "ai-sdk/5.0")
