"""Telling the running daemon about registry changes."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from daemon.errors import MemproxyError
from daemon.lifecycle import DaemonInfo, write_daemon_info
from interceptor.notify import SYNC_PATH, notify_daemon, project_state
from tests.support.serving import home_paths


class _Daemon:
    """Stands in for the daemon's /memproxy/ports/sync route and records what it was sent."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.seen.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(owner.status)
                self.send_header("content-length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def daemon() -> Iterator[_Daemon]:
    answer = {"hosting": True, "projects": {"shop": {"port": 8800, "listening": True, "error": None}}}
    fake = _Daemon(200, json.dumps(answer).encode())
    info = DaemonInfo(os.getpid(), "127.0.0.1", fake.port, time.time(), None, "test")
    write_daemon_info(home_paths(), info)
    yield fake
    fake.server.shutdown()


def test_no_daemon_is_none() -> None:
    assert notify_daemon(home_paths()) is None


def test_posts_the_sync_with_the_master_key(daemon: _Daemon) -> None:
    result = notify_daemon(home_paths(), "mk")
    assert result is not None
    assert project_state(result, "shop") == {"port": 8800, "listening": True, "error": None}
    assert project_state(result, "blog") is None
    method, path, headers = daemon.seen[-1]
    assert (method, path) == ("POST", SYNC_PATH)
    assert headers["host"] == "127.0.0.1"
    assert headers["x-memproxy-key"] == "mk"
    notify_daemon(home_paths())
    assert "x-memproxy-key" not in daemon.seen[-1][2]


def test_daemon_refusal_is_an_error(daemon: _Daemon) -> None:
    daemon.status, daemon.body = 401, b'{"error": {"message": "needs its master key"}}'
    with pytest.raises(MemproxyError, match=r"did not take the change: HTTP 401 .*needs its master key"):
        notify_daemon(home_paths())


def test_daemon_not_hosting_ports_is_an_error(daemon: _Daemon) -> None:
    daemon.body = b'{"projects": {}, "hosting": false}'
    result = notify_daemon(home_paths())
    assert result is not None
    with pytest.raises(MemproxyError, match="does not host project ports; restart it"):
        project_state(result, "shop")
