"""The master key: required on every route but /health (in any of its three headers), added by the
interceptor, never passed upstream; binding beyond loopback without one is refused at `memproxy up`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import Daemon
from tests.support.hardening import MASTER_KEY, config_text, figure
from tests.support.ports import free_port
from tests.support.security import CHAT, chat_body, raw_request
from tests.support.upstream import text
from tests.support.upstream.observing import ObservingUpstream
from tests.support.wire import status_of

pytestmark = pytest.mark.e2e


# --- master key -------------------------------------------------------------------------------------


def _routes(home: Path) -> list[tuple[str, str]]:
    """Every (method, path) the gateway app serves, read from the app itself, plus a few that it does not."""
    from daemon.app import create_app
    from daemon.config.settings import load_settings

    def walk(routes: list[Any]) -> Iterator[Any]:
        for route in routes:
            if hasattr(route, "path"):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                yield from walk(route.original_router.routes)

    app = create_app(load_settings(env={"MEMPROXY_HOME": str(home)}))
    found = {(m, r.path) for r in walk(app.routes) for m in (getattr(r, "methods", None) or {"GET"}) if m != "HEAD"}
    # SPEC routes whether or not this build has them yet, and some it never has
    found |= {("GET", "/metrics"), ("GET", "/memory-routing/info"), ("GET", "/nope"), ("POST", "/v1/completions")}
    found |= {("OPTIONS", CHAT), ("GET", "/health/"), ("GET", "//health"), ("GET", "/openapi.json")}
    return sorted(found, key=lambda mp: (mp[1], mp[0]))


def test_master_key_is_required_on_every_route_but_health(daemon: Daemon, fake: ObservingUpstream) -> None:
    routes = _routes(daemon.home)
    assert ("GET", "/health") in routes and ("POST", CHAT) in routes
    refused, tried = {}, 0
    for method, path in routes:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"x-api-key": "wrong"}, {"x-memproxy-key": "wrong"}):
            tried += 1
            status = status_of(raw_request(daemon.port, method, path, {"Host": "127.0.0.1", **headers}))
            refused[(method, path, tuple(headers))] = status
    expected = {k: (200 if k[:2] == ("GET", "/health") else 401) for k in refused}
    figure("master_key_required", routes=len(routes), requests=tried, refused_401=list(refused.values()).count(401))
    assert refused == expected
    assert fake.requests == []


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "x-memproxy-key"])
def test_master_key_is_accepted_in_each_header(daemon: Daemon, fake: ObservingUpstream, header: str) -> None:
    value = f"Bearer {MASTER_KEY}" if header == "authorization" else MASTER_KEY
    fake.script(text("let in"))
    r = httpx.post(f"{daemon.url}{CHAT}", content=chat_body(), headers={header: value}, timeout=20)
    assert r.status_code == 200, r.text
    assert "let in" in r.text
    assert not any(MASTER_KEY in v for v in fake.last().headers.values())  # the master key stays here


def test_interceptor_adds_the_master_key(daemon: Daemon, project_port: int, fake: ObservingUpstream) -> None:
    fake.script(text("through the project port"))
    base = f"http://127.0.0.1:{project_port}"
    assert httpx.get(f"{base}/v1/models", timeout=10).status_code == 200
    r = httpx.post(f"{base}{CHAT}", content=chat_body(), headers={"content-type": "application/json"}, timeout=20)
    assert r.status_code == 200, r.text
    assert not any(MASTER_KEY in v for v in fake.last().headers.values())


@pytest.mark.parametrize(
    ("how", "host"),
    [("flag", "0.0.0.0"), ("flag", "::"), ("config", "0.0.0.0")],
)
def test_non_loopback_bind_without_master_key_is_refused(
    tmp_path: Path, upstream: ObservingUpstream, how: str, host: str
) -> None:
    home = tmp_path / "open-home"
    home.mkdir()
    config = config_text(upstream.url)
    if how == "config":
        config = f"general_settings:\n  host: {host}\n" + config
    (home / "config.yaml").write_text(config)
    d = Daemon(home=home, port=free_port())
    args = ("up", "--port", str(d.port)) + (("--host", host) if how == "flag" else ())
    t0 = time.monotonic()
    result = d.cli(*args)
    took = time.monotonic() - t0
    try:
        figure(f"non_loopback_bind[{how}:{host}]", exit_code=result.returncode, seconds=took)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "master_key" in result.stderr and "Traceback" not in result.stderr
        assert not (home / "memproxy.pid").exists()
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", d.port)) != 0  # nothing listens
    finally:
        d.down()
