"""The door: who may talk to the gateway at all, checked before any route runs.

- `Host` must name loopback (or the configured bind host): a web page that rebinds its DNS to
  127.0.0.1 still sends its own host name (Ollama's CVE-2024-28224).
- A browser `Origin` is refused unless explicitly allowed: a page must not spend the user's keys.
  An allowed origin gets CORS as a browser needs it: its preflight (`OPTIONS` with
  `Access-Control-Request-Method`, which carries no key) is answered 204 here, before the master-key
  check, and every answer to it carries `Access-Control-Allow-Origin` and `Vary: Origin`.
- `master_key`, when set, is required on every route but `/health`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.dialects import dialect_for_path, error_json
from daemon.errors import AuthenticationFailed, GatewayError, PermissionDenied
from daemon.gateway.credentials import presented_keys

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
OPEN_PATHS = frozenset({"/health"})
CORS_METHODS = b"GET, POST, DELETE, OPTIONS"
# headers the SDKs send; a preflight asking for others gets them too (an allowed origin is trusted)
CORS_HEADERS = (
    "authorization, content-type, x-api-key, x-goog-api-key, anthropic-version, anthropic-beta, "
    "openai-beta, x-memproxy-key, x-memproxy-project, x-memproxy-user, x-memproxy-client"
)
CORS_MAX_AGE = b"600"


_HOST_RE = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?$")


def host_allowed(host_header: str, extra_hosts: frozenset[str]) -> bool:
    """True if the Host header is exactly a loopback name (or a configured host), with an optional port."""
    host = host_header.strip().lower()
    if host in LOOPBACK_HOSTS:  # includes a bare `::1`, which some clients send unbracketed
        return True
    match = _HOST_RE.match(host)
    if match is None:
        return False
    name = f"[{match['v6']}]" if match["v6"] is not None else match["name"]
    return name in LOOPBACK_HOSTS or name in extra_hosts or (match["v6"] is not None and match["v6"] in extra_hosts)


def key_matches(presented: Iterable[str], master_key: str) -> bool:
    return any(hmac.compare_digest(k.encode(), master_key.encode()) for k in presented)


class GuardMiddleware:
    """Raw ASGI middleware (cheaper than BaseHTTPMiddleware on every request)."""

    def __init__(
        self,
        app: ASGIApp,
        master_key: str | None,
        allowed_origins: Iterable[str] = (),
        extra_hosts: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.master_key = master_key
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.extra_hosts = frozenset(h.lower() for h in extra_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.check_origin(headers)
        origin = headers.get("origin")
        cors = [] if origin is None or problem is not None else cors_headers(origin)
        if problem is None and cors and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await send({"type": "http.response.start", "status": 204, "headers": cors + preflight_headers(headers)})
            await send({"type": "http.response.body", "body": b""})
            return
        problem = problem or self.check_key(scope["path"], headers)
        if problem is None:
            await self.app(scope, receive, _with_headers(send, cors) if cors else send)
            return
        body = error_json(dialect_for_path(scope["path"]), problem)
        answer = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *cors]
        await send({"type": "http.response.start", "status": problem.status, "headers": answer})
        await send({"type": "http.response.body", "body": body})

    def check_origin(self, headers: dict[str, str]) -> GatewayError | None:
        """The Host and a browser Origin: refused before anything else, preflights included."""
        host = headers.get("host")
        if host is None or not host_allowed(host, self.extra_hosts):
            return PermissionDenied(f"Host {host!r} is not allowed: memproxy answers loopback only")
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self.allowed_origins:
            return PermissionDenied(f"Origin {origin!r} is not allowed (general_settings.allowed_origins)")
        return None

    def check_key(self, path: str, headers: dict[str, str]) -> GatewayError | None:
        if self.master_key and path not in OPEN_PATHS and not key_matches(presented_keys(headers), self.master_key):
            return AuthenticationFailed(
                "this gateway needs its master key (Authorization: Bearer, x-api-key or x-memproxy-key)"
            )
        return None


def cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    """What every answer to an allowed origin carries (the origin named, never `*`)."""
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]


def preflight_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """A preflight's blessing: the methods, the headers asked for (or the SDKs' usual ones), how long it holds."""
    asked = headers.get("access-control-request-headers", "").strip()
    return [
        (b"access-control-allow-methods", CORS_METHODS),
        (b"access-control-allow-headers", (asked or CORS_HEADERS).encode("latin-1")),
        (b"access-control-max-age", CORS_MAX_AGE),
    ]


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """`send` with `extra` added to the response's head (a route's own Allow-Origin is replaced; a
    second `Vary` adds to the first)."""
    names = {b"access-control-allow-origin"}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            message = {**message, "headers": [*kept, *extra]}
        await send(message)

    return sending
