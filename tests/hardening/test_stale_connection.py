"""A project port's kept-alive connection to the gateway, closed by the gateway as the pool reuses it
(issue 16, item 6's leftover), against the real daemon.

Under a descriptor shortage the daemon closes its oldest idle connection to make room for a new one
(daemon/http_limits.py). The interceptor's pool holds kept-alive connections to the gateway, so the
oldest idle connection is often one of them: a tool's new connection to the project port closes it,
and the forwarder then sends that very request over it. The request must still be answered: it is
sent again on a fresh connection (interceptor/forwarder.py), never answered 502.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from daemon.http_limits import FD_HEADROOM
from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import MASTER_KEY, USER, assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the daemon's descriptors in /proc"),
]

ROUNDS = 16
IDLE = 6  # kept-alive sockets on the gateway port, younger than the pool's connection: room to make
KEPT_ALIVE = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# the limit is set this far under "the lowest free descriptor + FD_HEADROOM": a descriptor the daemon
# frees meanwhile (a connection of the round before, an upstream one) must not put the next under it
SLACK = 4


@pytest.fixture(params=["none", "token"])
def daemon(
    request: pytest.FixtureRequest, upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daemon, int, dict[str, str]]]:
    auth = request.param
    if auth == "token":
        config = f"general_settings:\n  master_key: {MASTER_KEY}\n" + config_text(upstream.url, extra="  auth: token\n")
    else:
        config = config_text(upstream.url)
    d = start_daemon(tmp_path_factory.mktemp(f"stale-{auth}"), config)
    try:
        port = assigned_port(d, "stale")
        key = {"Authorization": f"Bearer {(d.home / 'port-token').read_text().strip()}"} if auth == "token" else {}
        yield d, port, key
    finally:
        d.down()


def _lowest_free_fd(pid: int) -> int:
    """The descriptor number the daemon's next socket gets (the lowest free one)."""
    used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    return min(set(range(len(used) + 1)) - used)


def _kept_alive(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    sock.sendall(KEPT_ALIVE)
    sock.recv(65536)  # answered; the connection stays open, idle
    return sock


def _chat(port: int, key: dict[str, str]) -> int | str:
    body = {"model": "gpt-4o", "messages": USER, "max_tokens": 5}
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=key, timeout=10)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return r.status_code if r.status_code != 502 else f"502 {r.json()['error']['message'][-60:]}"


@pytest.mark.regression(reason="BUG: a project port answered 502 when the gateway closed its pooled connection")
def test_a_pooled_connection_the_gateway_closes_under_a_request_is_not_a_502(
    daemon: tuple[Daemon, int, dict[str, str]],
) -> None:
    d, port, key = daemon
    pid = int((d.home / "memproxy.pid").read_text())
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    answers = []
    for _ in range(ROUNDS):
        assert _chat(port, key) == 200  # the pool now holds a kept-alive connection to the gateway
        idle = [_kept_alive(d.port) for _ in range(IDLE)]
        time.sleep(0.2)  # the daemon closes what the round before left (no figure depends on it)
        # the next connection the daemon accepts is within FD_HEADROOM of its limit: it closes the
        # oldest idle connection, the pool's
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (_lowest_free_fd(pid) + FD_HEADROOM - SLACK, hard))
        try:
            answers.append(_chat(port, key))
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            for sock in idle:
                sock.close()
    failed = [a for a in answers if a != 200]
    figure("test_a_pooled_connection_the_gateway_closes", rounds=ROUNDS, not_200=len(failed), first=failed[:1])
    assert answers == [200] * ROUNDS
    # the dead connection never carried a request to the gateway: one row each, none twice
    rows = d.project_rows("stale", count=2 * ROUNDS)
    assert [r["status"] for r in rows] == ["ok"] * (2 * ROUNDS)
    assert d.status()["running"]
