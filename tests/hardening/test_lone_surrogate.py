"""A lone UTF-16 surrogate in a request is the client's error, a 400 (issue 16, item 10), against the
real daemon on the gateway and a project port: before, it was forwarded and came back as a 502.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.hardening import figure, gateway_and_project
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

BODIES = {
    "/v1/chat/completions": '{"model": "gpt-4o", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "/v1/messages": '{"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "\\udfff"}]}',
    "/v1/responses": '{"model": "gpt-4o", "input": "x\\ud83d"}',
}


@pytest.fixture(scope="module")
def ports(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    with gateway_and_project(tmp_path_factory.mktemp("surrogate-home"), upstream.url, "surrogate") as ports:
        yield ports


@pytest.mark.regression(reason='BUG: "\\ud800" in a message was forwarded and came back as a 502')
@pytest.mark.parametrize("where", ["gateway", "project"])
@pytest.mark.parametrize("path", list(BODIES))
def test_a_lone_surrogate_is_a_400_and_never_sent(
    ports: dict[str, int], fake: ObservingUpstream, where: str, path: str
) -> None:
    answer = httpx.post(
        f"http://127.0.0.1:{ports[where]}{path}",
        content=BODIES[path].encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    figure("test_a_lone_surrogate_is_a_400_and_never_sent", where=where, path=path, status=answer.status_code)
    assert answer.status_code == 400, answer.text
    assert "surrogate" in answer.text
    assert fake.requests == []


def test_a_paired_surrogate_escape_is_served(ports: dict[str, int]) -> None:
    body = '{"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    answer = httpx.post(
        f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions",
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
