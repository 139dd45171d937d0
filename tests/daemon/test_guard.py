"""The door: Host, Origin and master key checks, as a pure function and as ASGI middleware."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from daemon.guard import GuardMiddleware, host_allowed, key_matches


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8764",
        "localhost",
        "localhost:1234",
        "LOCALHOST:8764",
        "[::1]",
        "[::1]:8764",
    ],
)
def test_loopback_hosts_are_allowed(host: str) -> None:
    assert host_allowed(host, frozenset())


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "evil.com:8764",
        "127.0.0.1.evil.com",
        "127.0.0.1.evil.com:8764",
        "localhost.evil.com",
        "[::2]:8764",
        "0.0.0.0:8764",
        "",
        "[::1",
        "10.0.0.5:8764",
    ],
)
def test_other_hosts_are_refused(host: str) -> None:
    assert not host_allowed(host, frozenset())


def test_configured_bind_host_is_allowed() -> None:
    assert host_allowed("10.0.0.5:8764", frozenset({"10.0.0.5"}))
    assert not host_allowed("10.0.0.6:8764", frozenset({"10.0.0.5"}))


def test_key_matches() -> None:
    assert key_matches(["nope", "master-key"], "master-key")
    assert not key_matches(["master-ke", "master-key2"], "master-key")
    assert not key_matches([], "master-key")


async def _call(guard: GuardMiddleware, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any] | None, bool]:
    """(status, JSON body or None, whether the inner app ran)."""
    reached = False
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard.app = inner

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await guard(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body) if body and body != b"{}" else None, reached


def _guard(master_key: str | None = None, origins: tuple[str, ...] = ()) -> GuardMiddleware:
    return GuardMiddleware(lambda *a: None, master_key=master_key, allowed_origins=origins)  # type: ignore[arg-type]


async def test_foreign_host_is_refused_in_the_route_dialect() -> None:
    status, body, reached = await _call(_guard(), "/v1/chat/completions", {"host": "evil.com"})
    assert (status, reached) == (403, False)
    assert body is not None and body["error"]["type"] == "permission_error"
    status, body, _ = await _call(_guard(), "/v1/messages", {"host": "127.0.0.1.evil.com:8764"})
    assert status == 403 and body is not None and body["type"] == "error"
    assert body["error"]["type"] == "permission_error"


async def test_missing_host_is_refused() -> None:
    status, _body, reached = await _call(_guard(), "/health", {})
    assert (status, reached) == (403, False)


async def test_browser_origin_is_refused_unless_allowed() -> None:
    status, body, reached = await _call(
        _guard(), "/v1/chat/completions", {"host": "127.0.0.1:8764", "origin": "https://evil.com"}
    )
    assert (status, reached) == (403, False)
    assert body is not None and "Origin" in body["error"]["message"]
    allowed = _guard(origins=("http://localhost:3000/",))
    status, _, reached = await _call(allowed, "/v1/models", {"host": "localhost", "origin": "http://localhost:3000"})
    assert (status, reached) == (200, True)


async def test_no_master_key_means_open_to_loopback() -> None:
    status, _, reached = await _call(_guard(), "/v1/chat/completions", {"host": "127.0.0.1"})
    assert (status, reached) == (200, True)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer mk-secret-123"},
        {"authorization": "bearer mk-secret-123"},
        {"x-api-key": "mk-secret-123"},
        {"x-memproxy-key": "mk-secret-123"},
        {"x-memproxy-key": "mk-secret-123", "authorization": "Bearer sk-provider"},
    ],
)
async def test_master_key_accepted_in_each_header(headers: dict[str, str]) -> None:
    status, _, reached = await _call(_guard("mk-secret-123"), "/v1/chat/completions", {"host": "localhost", **headers})
    assert (status, reached) == (200, True)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/chat/completions", {}),
        ("/v1/messages", {"x-api-key": "wrong"}),
        ("/v1/models", {"authorization": "Bearer mk-secret-12"}),
        ("/metrics", {"authorization": "mk-secret-123"}),  # no Bearer prefix
    ],
)
async def test_master_key_required_everywhere_but_health(path: str, headers: dict[str, str]) -> None:
    status, body, reached = await _call(_guard("mk-secret-123"), path, {"host": "localhost", **headers})
    assert (status, reached) == (401, False)
    assert body is not None
    assert "mk-secret-123" not in json.dumps(body)


async def test_health_is_open_with_a_master_key() -> None:
    status, _, reached = await _call(_guard("mk-secret-123"), "/health", {"host": "localhost"})
    assert (status, reached) == (200, True)


async def _head(
    guard: GuardMiddleware, method: str, headers: dict[str, str], inner_headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[bytes, list[bytes]], bool]:
    """(status, the answer's headers by name, whether the inner app ran) for one request."""
    reached = False
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True
        await send({"type": "http.response.start", "status": 200, "headers": inner_headers or []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    guard.app = inner
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1", **headers}.items()]
    scope: dict[str, Any] = {"type": "http", "method": method, "path": "/v1/messages", "headers": raw}
    await guard(scope, receive, send)
    found: dict[bytes, list[bytes]] = {}
    for name, value in sent[0]["headers"]:
        found.setdefault(name, []).append(value)
    return sent[0]["status"], found, reached


async def test_an_allowed_origins_preflight_is_204_before_the_master_key() -> None:
    guard = _guard(master_key="mk", origins=("http://localhost:3000",))
    asked = {"origin": "http://localhost:3000", "access-control-request-method": "POST"}
    status, headers, reached = await _head(guard, "OPTIONS", {**asked, "access-control-request-headers": "x-api-key"})
    assert (status, reached) == (204, False)
    assert headers[b"access-control-allow-origin"] == [b"http://localhost:3000"]
    assert headers[b"access-control-allow-headers"] == [b"x-api-key"]
    assert b"POST" in headers[b"access-control-allow-methods"][0]
    # an OPTIONS that is no preflight is no exception to the key
    status, headers, reached = await _head(guard, "OPTIONS", {"origin": "http://localhost:3000"})
    assert (status, reached) == (401, False)
    assert headers[b"access-control-allow-origin"] == [b"http://localhost:3000"]


async def test_an_answer_to_an_allowed_origin_names_it_and_varies_on_it() -> None:
    guard = _guard(origins=("http://localhost:3000",))
    own = [(b"vary", b"Accept-Encoding"), (b"access-control-allow-origin", b"*")]
    status, headers, reached = await _head(guard, "POST", {"origin": "http://localhost:3000"}, own)
    assert (status, reached) == (200, True)
    assert headers[b"access-control-allow-origin"] == [b"http://localhost:3000"]  # never `*`
    assert headers[b"vary"] == [b"Accept-Encoding", b"Origin"]
    status, headers, _ = await _head(guard, "POST", {}, own)  # no Origin: the route's headers as they were
    assert headers[b"access-control-allow-origin"] == [b"*"]


async def test_a_refused_origins_preflight_gets_no_cors_headers() -> None:
    guard = _guard(origins=("http://localhost:3000",))
    asked = {"origin": "https://evil.example", "access-control-request-method": "POST"}
    status, headers, reached = await _head(guard, "OPTIONS", asked)
    assert (status, reached) == (403, False)
    assert not any(name.startswith(b"access-control-") for name in headers)
