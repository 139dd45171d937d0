"""The port token on a Gemini route (issue 16, item 13's leftover): Google's API, the gateway's gemini
route and Google's SDKs carry the key as the `x-goog-api-key` header or the `key` query parameter.
With `interceptor.auth: token` a project port takes the token in either place on a `/v1beta/` route,
takes it off before forwarding (the gateway's log and rows, the upstream, never see it) and answers
anything else 401 in Google's error shape. The daemon logs at debug level, so a leak would show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import intercept
from tests.support.config import GEMINI_KEY, with_gemini
from tests.support.daemon import Daemon, start_daemon
from tests.support.gemini_cli import settings_path
from tests.support.hardening import MASTER_KEY, USER, assigned_port, config_text, figure
from tests.support.npm import npm_tool
from tests.support.upstream import text
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Say something short."}]}]}
GEMINI_CLI = Path("/tmp/gemini-cli")  # the install tests/e2e/test_gemini_cli.py makes and reuses


@pytest.fixture(scope="module")
def shared(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int]]:
    config = f"general_settings:\n  master_key: {MASTER_KEY}\n" + config_text(
        upstream.url, log_level="debug", extra="  auth: token\n"
    )
    daemon = start_daemon(tmp_path_factory.mktemp("gemini-token"), with_gemini(config, upstream.url))
    try:
        yield daemon, assigned_port(daemon, "gem")
    finally:
        daemon.down()


def _token(daemon: Daemon) -> str:
    return (daemon.home / "port-token").read_text().strip()


def _post(port: int, path: str, params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    url = f"http://127.0.0.1:{port}{path}"
    return httpx.post(url, params=params, json=BODY, headers=headers or {}, timeout=20)


@pytest.mark.regression(reason="BUG: a Gemini key sent as ?key= was not taken as the port token (401 for Google SDKs)")
@pytest.mark.parametrize(
    ("path", "where"),
    [(GENERATE, "query"), (STREAM, "query"), (GENERATE, "header"), (STREAM, "header")],
    ids=["generate-query", "stream-query", "generate-header", "stream-header"],
)
def test_the_token_as_geminis_key_is_accepted_and_never_forwarded(
    shared: tuple[Daemon, int], upstream: ObservingUpstream, path: str, where: str
) -> None:
    daemon, port = shared
    token = _token(daemon)
    params = {"alt": "sse"} if path == STREAM else {}
    headers = {"x-goog-api-key": token} if where == "header" else {}
    if where == "query":
        params["key"] = token
    upstream.fresh()
    r = _post(port, path, params, headers)
    figure("test_port_token_gemini", path=path.rsplit(":", 1)[1], where=where, status=r.status_code)
    assert r.status_code == 200, r.text
    (seen,) = upstream.requests
    assert token not in seen.query and token not in json.dumps(seen.headers) and token.encode() not in seen.raw
    assert GEMINI_KEY in (seen.headers.get("x-goog-api-key", ""), seen.query)  # the gateway's own key went up
    if path == STREAM:
        assert "data:" in r.text


@pytest.mark.parametrize(
    ("params", "headers"),
    [({}, {}), ({"key": "AIza-guess"}, {}), ({}, {"x-goog-api-key": "AIza-guess"}), ({"key": "mpt-x"}, {})],
    ids=["no-key", "query-guess", "header-guess", "query-wrong-token"],
)
def test_a_gemini_request_without_the_token_is_401_in_googles_shape(
    shared: tuple[Daemon, int], upstream: ObservingUpstream, params: dict[str, str], headers: dict[str, str]
) -> None:
    _daemon, port = shared
    upstream.fresh()
    r = _post(port, GENERATE, params, headers)
    assert r.status_code == 401
    error = r.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    assert "port token" in error["message"]
    assert upstream.requests == []


def test_the_token_in_the_query_of_a_route_that_takes_no_key_there_is_401(
    shared: tuple[Daemon, int], upstream: ObservingUpstream
) -> None:
    daemon, port = shared
    upstream.fresh()
    body = {"model": "gpt-4o", "messages": USER, "max_tokens": 5}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    r = httpx.post(url, params={"key": _token(daemon)}, json=body, timeout=20)
    assert r.status_code == 401  # OpenAI's and Anthropic's APIs carry no key in the URL
    assert r.json()["error"]["type"] == "authentication_error"
    assert upstream.requests == []


def test_a_token_sent_as_key_reaches_no_file_row_or_log_line(shared: tuple[Daemon, int]) -> None:
    daemon, port = shared
    token = _token(daemon)
    before = len(daemon.project_rows("gem", count=0))
    assert _post(port, GENERATE, {"key": token}).status_code == 200
    assert _post(port, STREAM, {"alt": "sse", "key": token}).status_code == 200
    rows = daemon.project_rows("gem", count=before + 2)
    assert token not in json.dumps(rows)
    leaks = [
        p.name
        for p in daemon.home.rglob("*")
        if p.is_file() and p.name != "port-token" and token.encode() in p.read_bytes()
    ]
    scanned = sum(p.stat().st_size for p in daemon.home.rglob("*") if p.is_file())
    figure("test_port_token_gemini_leaks", rows=len(rows), scanned_bytes=scanned, leaks=len(leaks))
    assert leaks == []


def test_gemini_cli_works_through_a_token_port_with_intercept(
    shared: tuple[Daemon, int], upstream: ObservingUpstream
) -> None:
    daemon, _port = shared
    gemini = npm_tool("@google/gemini-cli", GEMINI_CLI, "gemini")  # skips the test when npm cannot install it
    work = daemon.home / "gemini-work"
    work.mkdir(exist_ok=True)
    upstream.default = text("Hello through the token port", usage={"input_tokens": 40, "output_tokens": 9})
    env = {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": settings_path()}
    result = intercept(daemon, "gem", [str(gemini), "-m", "gemini-2.5-flash", "-p", "say hi"], work, 150, env)
    figure("test_port_token_gemini_cli", rc=result.returncode)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:] + daemon.log_tail()
    assert "Hello through the token port" in result.stdout
    token = _token(daemon)
    assert all(token.encode() not in r.raw and token not in r.query for r in upstream.requests)
