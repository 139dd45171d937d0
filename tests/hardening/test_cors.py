"""`general_settings.allowed_origins` as a browser needs it (issue 16, item 11), against the real daemon,
on the gateway and a project port, with a master key: the preflight a browser sends before a keyed
POST carries no key, so it is answered 204 before the key is checked, and every answer to an allowed
origin names it in `Access-Control-Allow-Origin` (with `Vary: Origin`). Other origins stay refused.

Tested with raw HTTP as a browser sends it (no headless browser: CI would have to install one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.hardening import MASTER_KEY, USER, config_text, figure, gateway_and_project, with_allowed_origin
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

ALLOWED = "http://localhost:3000"
OTHER = "https://evil.example"
CHAT = "/v1/chat/completions"
ASKED = "authorization, content-type, x-stainless-os"
BUG = pytest.mark.regression(
    reason="BUG: allowed_origins could not work in a browser: no CORS headers, a preflight got 401 (405 without a key)"
)


@pytest.fixture(scope="module")
def ports(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    config = with_allowed_origin(config_text(upstream.url, master_key=MASTER_KEY), f"{ALLOWED}/")
    with gateway_and_project(tmp_path_factory.mktemp("cors-home"), upstream.url, "cors", config) as ports:
        yield ports


def _preflight(port: int, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ASKED,
    }
    return httpx.request("OPTIONS", f"http://127.0.0.1:{port}{CHAT}", headers=headers, timeout=10)


def _post(port: int, origin: str, key: str | None, stream: bool = False) -> httpx.Response:
    headers = {"Origin": origin, **({"Authorization": f"Bearer {key}"} if key else {})}
    body = {"model": "gpt-4o", "messages": USER, "max_tokens": 5, "stream": stream}
    return httpx.post(f"http://127.0.0.1:{port}{CHAT}", headers=headers, json=body, timeout=20)


@BUG
@pytest.mark.parametrize("where", ["gateway", "project"])
def test_a_preflight_from_an_allowed_origin_is_answered_204_without_a_key(ports: dict[str, int], where: str) -> None:
    answer = _preflight(ports[where], ALLOWED)
    figure(
        "test_cors_preflight",
        where=where,
        status=answer.status_code,
        acao=answer.headers.get("access-control-allow-origin"),
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == ASKED
    assert "Origin" in answer.headers["vary"]


@BUG
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("where", ["gateway", "project"])
def test_answers_to_an_allowed_origin_carry_its_cors_headers(ports: dict[str, int], where: str, stream: bool) -> None:
    # the project port adds the master key itself; the gateway needs it from the page
    answer = _post(ports[where], ALLOWED, MASTER_KEY if where == "gateway" else None, stream)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in answer.headers["vary"]


@BUG
def test_a_key_error_to_an_allowed_origin_is_readable_by_the_page(ports: dict[str, int]) -> None:
    answer = _post(ports["gateway"], ALLOWED, "wrong-key")
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert json.loads(answer.text)["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("where", ["gateway", "project"])
def test_other_origins_are_still_refused(ports: dict[str, int], upstream: ObservingUpstream, where: str) -> None:
    seen = len(upstream.requests)
    preflight = _preflight(ports[where], OTHER)
    post = _post(ports[where], OTHER, MASTER_KEY)
    figure("test_cors_other_origin", where=where, preflight=preflight.status_code, post=post.status_code)
    for answer in (preflight, post):
        assert answer.status_code == 403
        assert "access-control-allow-origin" not in answer.headers
    assert len(upstream.requests) == seen
