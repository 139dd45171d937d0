"""The edge forwarder: one project's port, relaying any request to the gateway byte for byte.

It only adds who the request is for (`x-memproxy-project`) and, when the gateway has one, the
gateway's master key (`x-memproxy-key`), so a tool needs neither. The tool's own credentials
(`Authorization`, `x-api-key`) pass untouched. Bodies stream both ways without buffering, so SSE
chunks reach the tool as the gateway writes them. A raw ASGI app: no framework on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterable
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.body import BodyStalled, paced
from daemon.dialects import Dialect, dialect_for_path, error_json, stream_error_event
from daemon.errors import GatewayError
from daemon.guard import host_allowed
from daemon.identity import PROJECT_HEADER, validate_project_name

KEY_HEADER = "x-memproxy-key"
# RFC 9110 §7.6.1 connection-specific headers, plus `host` (httpx writes the gateway's) and
# `expect` (this hop already answered `100-continue`).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
    }
)
CONNECT_TIMEOUT_S = 5.0
BODY_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 512
MAX_KEEPALIVE = 128


def make_gateway_client() -> httpx.AsyncClient:
    """The one connection pool a forwarder process shares for all its requests to the gateway."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=30
        ),
        # asyncio already sets TCP_NODELAY on TCP sockets; saying so keeps SSE chunks from waiting on
        # Nagle under any other backend too.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        retries=0,
    )
    # No read/write timeout: an LLM may think for minutes before and between chunks.
    timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S, pool=30.0)
    # The forwarder is a pipe: it keeps no cookies between tools, and ignores HTTP(S)_PROXY, which
    # must never see loopback traffic.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False, cookies=no_cookies
    )


def upstream_headers(
    raw: Iterable[tuple[bytes, bytes]], project: str, master_key: str | None
) -> list[tuple[bytes, bytes]]:
    """The request headers the gateway gets: the tool's, minus hop-by-hop ones, plus who it is for."""
    drop = set(HOP_BY_HOP) | {PROJECT_HEADER}
    if master_key:
        drop.add(KEY_HEADER)
    headers = list(raw)
    for name, value in headers:
        if name.lower() == b"connection":  # headers the client named as connection-specific
            drop.update(token.strip().lower() for token in value.decode("latin-1").split(",") if token.strip())
    kept = [(name, value) for name, value in headers if name.decode("latin-1").lower() not in drop]
    kept.append((PROJECT_HEADER.encode(), project.encode()))
    if master_key:
        kept.append((KEY_HEADER.encode(), master_key.encode("latin-1")))
    return kept


def downstream_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers the tool gets: the gateway's, minus hop-by-hop ones."""
    return [(name, value) for name, value in raw if name.decode("latin-1").lower() not in HOP_BY_HOP]


def make_forwarder(
    project: str,
    gateway_url: str,
    client: httpx.AsyncClient,
    master_key: str | None = None,
    *,
    extra_hosts: Iterable[str] = (),
    max_body_bytes: int | None = None,
    body_timeout: float = BODY_TIMEOUT_S,
) -> ASGIApp:
    """An ASGI app that forwards every request to `gateway_url` on behalf of `project`."""
    validate_project_name(project)
    base = gateway_url.rstrip("/")
    allowed = frozenset(h.lower() for h in extra_hosts)

    async def forwarder(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        dialect = dialect_for_path(path)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"host"), None)
        if host is None or not host_allowed(host, allowed):
            problem = GatewayError(403, "permission", f"Host {host!r} is not allowed: memproxy answers loopback only")
            await _answer_error(send, dialect, problem)
            return
        too_big = _declared_too_big(scope["headers"], max_body_bytes)
        if too_big is not None:
            # answer before reading the body: the gateway would refuse it anyway, after it was all sent
            await _answer_error(send, dialect, too_big)
            return
        target = base + (scope.get("raw_path") or path.encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        request = httpx.Request(
            scope["method"],
            target,
            headers=upstream_headers(scope["headers"], project, master_key),
            content=paced(_request_body(receive), body_timeout),
        )
        try:
            response = await client.send(request, stream=True)
        except _ClientGone:
            return  # nobody is left to answer; the gateway sees its request cut off
        except BodyStalled as exc:
            await _answer_error(send, dialect, GatewayError(400, "invalid_request", str(exc)))
            return
        except httpx.LocalProtocolError as exc:
            problem = GatewayError(400, "invalid_request", f"the request body did not match its headers ({exc})")
            await _answer_error(send, dialect, problem)
            return
        except httpx.TransportError as exc:
            await _answer_error(send, dialect, gateway_failure(base, exc))
            return
        try:
            await _relay(response, receive, send, dialect)
        finally:
            await response.aclose()

    return forwarder


def _declared_too_big(headers: Iterable[tuple[bytes, bytes]], limit: int | None) -> GatewayError | None:
    if limit is None:
        return None
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return GatewayError(400, "invalid_request", "Content-Length header is not a number")
            if declared > limit:
                return GatewayError(413, "payload_too_large", f"request body is larger than {limit} bytes")
    return None


class _ClientGone(Exception):
    """The tool hung up before its request body ended."""


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def _relay(response: httpx.Response, receive: Receive, send: Send, dialect: Dialect) -> None:
    """Stream the gateway's answer down; stop reading it the moment the tool hangs up."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": downstream_headers(response.headers.raw),
        }
    )
    pump = asyncio.ensure_future(_pump(response, send, dialect))
    watch = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        with contextlib.suppress(asyncio.CancelledError):
            await watch


async def _pump(response: httpx.Response, send: Send, dialect: Dialect) -> None:
    try:
        # aiter_raw: bytes as they arrive, still encoded, so Content-Length/-Encoding stay true.
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except httpx.TransportError as exc:
        is_sse = response.headers.get("content-type", "").startswith("text/event-stream")
        if not is_sse or "content-length" in response.headers:
            raise  # the tool must see a cut connection, never a short body that looks whole
        problem = GatewayError(502, "upstream", f"the memproxy gateway broke off the stream: {exc!r}")
        await send({"type": "http.response.body", "body": stream_error_event(dialect, problem), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def gateway_failure(base: str, exc: httpx.TransportError) -> GatewayError:
    """What the tool is told when the gateway could not be asked or did not answer."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return GatewayError(
            502, "upstream", f"the memproxy gateway at {base} is not reachable ({reason}); start it with `memproxy up`"
        )
    if isinstance(exc, httpx.PoolTimeout):
        return GatewayError(503, "unavailable", f"too many requests in flight to the memproxy gateway at {base}")
    return GatewayError(502, "upstream", f"the memproxy gateway at {base} failed to answer ({reason})")


async def _answer_error(send: Send, dialect: Dialect, problem: GatewayError) -> None:
    body = error_json(dialect, problem)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
