"""The edge forwarder: one project's port, relaying any request to the gateway byte for byte.

It only adds who the request is for (`x-memproxy-project`) and, when the gateway has one, the
gateway's master key (`x-memproxy-key`), so a tool needs neither. A base URL that carries a client
name (`http://127.0.0.1:P/client/aider/v1`, as `memproxy intercept` sets it) loses that part of the
path here and the gateway gets it as `x-memproxy-client`: one port serves many tools at once, and
each tool's own base URL says which it is. The tool's own credentials
(`Authorization`, `x-api-key`) pass untouched. Bodies stream both ways without buffering, so SSE
chunks reach the tool as the gateway writes them. A request that met a kept-alive connection the
gateway had just closed, before any byte of its answer, is sent again once on a fresh one (`_send`).
A raw ASGI app: no framework on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import SimpleNamespace

import aiohttp
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from daemon.config.settings import BODY_TIMEOUT_S
from daemon.dialects import Dialect, dialect_for_path, error_json, stream_error_event
from daemon.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    PermissionDenied,
    UpstreamFailed,
    UpstreamUnavailable,
)
from daemon.guard import host_allowed
from daemon.identity import CLIENT_HEADER, PROJECT_HEADER, split_client_path, validate_project_name
from interceptor import port_token
from interceptor.request_body import Body

KEY_HEADER = "x-memproxy-key"
# RFC 9110 §7.6.1 connection-specific headers, plus `host` (aiohttp writes the gateway's) and
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
POOL_WAIT_S = 30.0
MAX_CONNECTIONS = 512
# headers aiohttp would add on its own: the gateway must see the tool's, or none
NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
TOKEN_NEEDED = (
    "this project port needs memproxy's port token as the API key (interceptor.auth: token); "
    "`memproxy intercept` sets it, `memproxy ports token` prints it"
)


def make_gateway_client(*, fresh: bool = False) -> aiohttp.ClientSession:
    """The one connection pool a forwarder process shares for all its requests to the gateway; with
    `fresh`, the one that never reuses a connection, for a request sent again (`_send`).

    aiohttp rather than httpx: httpcore checks every pooled connection's socket on each request, so
    after a burst of streams left many idle connections it cost more CPU than the gateway itself.
    """
    if fresh:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, force_close=True)
    else:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=30)
    reuse = aiohttp.TraceConfig()
    reuse.on_connection_reuseconn.append(_note_reuse)
    # No read timeout: an LLM may think for minutes before and between chunks. `connect` includes the
    # wait for a free connection when all MAX_CONNECTIONS are busy.
    timeout = aiohttp.ClientTimeout(total=None, connect=POOL_WAIT_S, sock_connect=CONNECT_TIMEOUT_S)
    # The forwarder is a pipe: bytes pass still encoded, it keeps no cookies between tools, and it
    # ignores HTTP(S)_PROXY, which must never see loopback traffic.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=NOT_ADDED,
        trace_configs=[] if fresh else [reuse],
    )


class _Attempt:
    """One try of a request to the gateway: whether it went out on a kept-alive (pooled) connection."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _note_reuse(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: object) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.reused = True


def upstream_headers(
    raw: Iterable[tuple[bytes, bytes]], project: str, master_key: str | None, client: str | None = None
) -> list[tuple[bytes, bytes]]:
    """The request headers the gateway gets: the tool's, minus hop-by-hop ones, plus who it is for
    (and which client, when its base URL said so)."""
    drop = set(HOP_BY_HOP) | {PROJECT_HEADER}
    if master_key:
        drop.add(KEY_HEADER)
    if client:
        drop.add(CLIENT_HEADER)
    headers = list(raw)
    for name, value in headers:
        if name.lower() == b"connection":  # headers the client named as connection-specific
            drop.update(token.strip().lower() for token in value.decode("latin-1").split(",") if token.strip())
    kept = [(name, value) for name, value in headers if name.decode("latin-1").lower() not in drop]
    kept.append((PROJECT_HEADER.encode(), project.encode()))
    if client:
        kept.append((CLIENT_HEADER.encode(), client.encode()))
    if master_key:
        kept.append((KEY_HEADER.encode(), master_key.encode("latin-1")))
    return kept


def downstream_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers the tool gets: the gateway's, minus hop-by-hop ones."""
    return [(name, value) for name, value in raw if name.decode("latin-1").lower() not in HOP_BY_HOP]


def make_forwarder(
    project: str,
    gateway_url: str,
    client: aiohttp.ClientSession,
    master_key: str | None = None,
    *,
    extra_hosts: Iterable[str] = (),
    max_body_bytes: int | None = None,
    body_timeout: float = BODY_TIMEOUT_S,
    token: str | None = None,
    fresh: aiohttp.ClientSession | None = None,
) -> ASGIApp:
    """An ASGI app that forwards every request to `gateway_url` on behalf of `project`.

    A request that failed on a kept-alive connection before anything of its answer came is sent once
    more, on a connection from `fresh` (`make_gateway_client(fresh=True)`; without it, from `client`).

    With `token` (`interceptor.auth: token`), only a request presenting it as its key is forwarded,
    without it (interceptor/port_token.py); a CORS preflight, which carries no key, still is.
    """
    validate_project_name(project)
    base = gateway_url.rstrip("/")
    allowed = frozenset(h.lower() for h in extra_hosts)
    needed = token.encode() if token else None

    async def forwarder(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        tool, path = split_client_path(scope["path"])
        dialect = dialect_for_path(path)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"host"), None)
        if host is None or not host_allowed(host, allowed):
            problem = PermissionDenied(f"Host {host!r} is not allowed: memproxy answers loopback only")
            await _answer_error(send, dialect, problem)
            return
        too_big = _declared_too_big(scope["headers"], max_body_bytes)
        if too_big is not None:
            # answer before reading the body: the gateway would refuse it anyway, after it was all sent
            await _answer_error(send, dialect, too_big)
            return
        raw, query = scope["headers"], scope.get("query_string", b"")
        if needed is not None and not _preflight(scope):
            # Gemini's API also takes its key as `?key=` (the gateway's gemini route reads it there too)
            in_query = dialect is Dialect.GEMINI and port_token.query_carries(query, needed)
            if not in_query and not port_token.carries(raw, needed):
                await _answer_error(send, dialect, AuthenticationFailed(TOKEN_NEEDED))
                return
            raw = port_token.without(raw, needed)
            if in_query:
                query = port_token.query_without(query, needed)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        target = base + split_client_path(raw_path)[1]
        if query:
            target += "?" + query.decode("latin-1")
        headers = upstream_headers(raw, project, master_key, tool)
        body = Body(receive, body_timeout) if _has_body(scope["headers"]) else None
        url = URL(target, encoded=True)
        request = (scope["method"], url, [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers])
        try:
            response = await _send((client, fresh or client), request, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if body is not None and body.gone:
                return  # nobody is left to answer; the gateway sees its request cut off
            if body is not None and body.stalled is not None:
                await _answer_error(send, dialect, InvalidRequest(str(body.stalled)))
                return
            await _answer_error(send, dialect, gateway_failure(base, exc))
            return
        try:
            await _relay(response, receive if body is None or body.done else None, send, dialect)
        finally:
            response.close()

    return forwarder


# what a request on a kept-alive connection the gateway had closed fails with (ClientConnectorError, a
# subclass of ClientOSError, is a new connection refused: never sent again)
DEAD_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)


async def _send(
    sessions: tuple[aiohttp.ClientSession, aiohttp.ClientSession],
    request: tuple[str, URL, list[tuple[str, str]]],
    body: Body | None,
) -> aiohttp.ClientResponse:
    """The gateway's answer (from its head on) to `request`, over the pool (`sessions[0]`).

    A kept-alive connection the gateway closes as idle (its keep-alive timeout, or a descriptor
    shortage: daemon/http_limits.py) just as the pool hands it out fails before any byte of an answer;
    the request is then sent once more, whole, on a fresh connection (`sessions[1]`), whatever its
    method (RFC 9112 §9.3.1; browsers do the same). aiohttp does it only for idempotent methods, and
    could not replay a streamed body. A request whose answer had started is never sent again.
    """
    pooled, fresh = sessions
    method, url, headers = request
    attempt = _Attempt()
    try:
        try:
            data = body.chunks() if body is not None else None
            return await pooled.request(
                method, url, headers=headers, data=data, allow_redirects=False, trace_request_ctx=attempt
            )
        except DEAD_CONNECTION as exc:
            if not attempt.reused or isinstance(exc, aiohttp.ClientConnectorError) or not _nothing_came(exc):
                raise
            if body is not None and not await body.rewind():
                raise  # a body past REPLAY_BYTES, or the tool stalled or hung up
        data = body.chunks() if body is not None else None
        return await fresh.request(method, url, headers=headers, data=data, allow_redirects=False)
    finally:
        if body is not None:
            body.settle()


def _nothing_came(exc: aiohttp.ClientConnectionError) -> bool:
    """No byte of an answer: a head cut midway is a ServerDisconnectedError naming the partial message."""
    return not isinstance(exc, aiohttp.ServerDisconnectedError) or isinstance(exc.message, str)


def _preflight(scope: Scope) -> bool:
    """A browser's CORS preflight: the gateway answers it (or refuses its origin) without any key."""
    asks = any(name.lower() == b"access-control-request-method" for name, _ in scope["headers"])
    return scope["method"] == "OPTIONS" and asks


def _declared_too_big(headers: Iterable[tuple[bytes, bytes]], limit: int | None) -> GatewayError | None:
    if limit is None:
        return None
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return InvalidRequest("Content-Length header is not a number")
            if declared > limit:
                return PayloadTooLarge(f"request body is larger than {limit} bytes")
    return None


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        name = key.lower()
        if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            return True
    return False


async def _relay(response: aiohttp.ClientResponse, receive: Receive | None, send: Send, dialect: Dialect) -> None:
    """Stream the gateway's answer down; stop reading it the moment the tool hangs up.

    `receive` is None while the request body is still being read (the gateway may answer before
    it has all of it): then the body reader, not a second listener, notices a hang-up.
    """
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": downstream_headers(response.raw_headers),
        }
    )
    if receive is None:
        await _pump(response, send, dialect)
        return
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


async def _pump(response: aiohttp.ClientResponse, send: Send, dialect: Dialect) -> None:
    try:
        # bytes as they arrive, still encoded, so Content-Length/-Encoding stay true
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (aiohttp.ClientError, TimeoutError) as exc:
        is_sse = response.headers.get("content-type", "").startswith("text/event-stream")
        if not is_sse or "content-length" in response.headers:
            raise  # the tool must see a cut connection, never a short body that looks whole
        problem = UpstreamFailed(f"the memproxy gateway broke off the stream: {exc!r}")
        await send({"type": "http.response.body", "body": stream_error_event(dialect, problem), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def gateway_failure(base: str, exc: BaseException) -> GatewayError:
    """What the tool is told when the gateway could not be asked or did not answer."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailed(
            f"the memproxy gateway at {base} is not reachable ({reason}); start it with `memproxy up`"
        )
    if isinstance(exc, TimeoutError):
        return UpstreamUnavailable(f"the memproxy gateway at {base} did not take the request within {POOL_WAIT_S:g} s")
    return UpstreamFailed(f"the memproxy gateway at {base} failed to answer ({reason})")


async def _answer_error(send: Send, dialect: Dialect, problem: GatewayError) -> None:
    body = error_json(dialect, problem)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
