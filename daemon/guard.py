"""The door: who may talk to the gateway at all, checked before any route runs.

- `Host` must name loopback (or the configured bind host): a web page that rebinds its DNS to
  127.0.0.1 still sends its own host name (Ollama's CVE-2024-28224).
- A browser `Origin` is refused unless explicitly allowed: a page must not spend the user's keys.
- `master_key`, when set, is required on every route but `/health`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.dialects import dialect_for_path, error_json
from daemon.errors import AuthenticationFailed, GatewayError, PermissionDenied
from daemon.gateway.credentials import presented_keys

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
OPEN_PATHS = frozenset({"/health"})


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
        problem = self.check(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = error_json(dialect_for_path(scope["path"]), problem)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def check(self, scope: Scope) -> GatewayError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if host is None or not host_allowed(host, self.extra_hosts):
            return PermissionDenied(f"Host {host!r} is not allowed: memproxy answers loopback only")
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self.allowed_origins:
            return PermissionDenied(f"Origin {origin!r} is not allowed (general_settings.allowed_origins)")
        if (
            self.master_key
            and scope["path"] not in OPEN_PATHS
            and not key_matches(presented_keys(headers), self.master_key)
        ):
            return AuthenticationFailed(
                "this gateway needs its master key (Authorization: Bearer, x-api-key or x-memproxy-key)"
            )
        return None
