"""Connections under a low file-descriptor limit (issue 16, item 6's last part), against the real daemon:
its `RLIMIT_NOFILE` is lowered (`prlimit`) to 30 descriptors above what it holds, then 30 sockets
that do nothing (half of them after one kept-alive request) take them, on the gateway and a project
port. A legitimate request on each must still be served: the daemon closes the oldest idle
connection to make room (daemon/http_limits.py).
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

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import USER, assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts the daemon's descriptors in /proc"),
]

IDLE = 30
KEPT_ALIVE = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int]]:
    d = start_daemon(tmp_path_factory.mktemp("fd-home"), config_text(upstream.url))
    try:
        yield d, assigned_port(d, "fds")
    finally:
        d.down()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _idle_socket(port: int, request_first: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    if request_first:
        try:
            sock.sendall(KEPT_ALIVE)
            sock.recv(65536)  # the answer; the connection stays open (keep-alive)
        except OSError:
            pass  # not accepted: the descriptors are gone already
    return sock


def _chat(port: int) -> int | str:
    body = {"model": "gpt-4o", "messages": USER, "max_tokens": 5}
    try:
        return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=8).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


@pytest.mark.regression(reason="BUG: under a low fd limit, 30 idle sockets blocked every legitimate request")
def test_idle_sockets_under_a_low_fd_limit_do_not_block_requests(daemon: tuple[Daemon, int]) -> None:
    d, project = daemon
    pid = int((d.home / "memproxy.pid").read_text())
    held = _open_fds(pid)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (held + IDLE, hard))
    sockets: list[socket.socket] = []
    try:
        for i in range(IDLE):
            sockets.append(_idle_socket(d.port if i % 2 else project, request_first=i % 4 < 2))
        time.sleep(0.5)
        fds_with_idle = _open_fds(pid)
        answers = {"gateway": _chat(d.port), "project": _chat(project)}
        answers_again = {"gateway": _chat(d.port), "project": _chat(project)}
    finally:
        for sock in sockets:
            sock.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    figure(
        "test_idle_sockets_under_a_low_fd_limit",
        held=held,
        limit=held + IDLE,
        fds_with_idle=fds_with_idle,
        **{f"first_{k}": v for k, v in answers.items()},
        **{f"again_{k}": v for k, v in answers_again.items()},
    )
    assert answers == {"gateway": 200, "project": 200}
    assert answers_again == {"gateway": 200, "project": 200}
    assert d.status()["running"]
