"""The body size limit and body_timeout: a huge Content-Length is a 413 before the body is sent, a
body that stops short is a 400 after body_timeout, a slow body that keeps coming is served, a chunked
body over the limit is cut off early."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.daemon import Daemon
from tests.support.hardening import MASTER_KEY, figure
from tests.support.security import BODY_TIMEOUT, CHAT, MAX_BODY, MESSAGES, chat_body
from tests.support.upstream import text
from tests.support.upstream.observing import ObservingUpstream
from tests.support.wire import read_response, status_of

pytestmark = pytest.mark.e2e


# --- body size limit ----------------------------------------------------------------------------------


BUG_INTERCEPTOR_413 = pytest.mark.regression(
    reason="BUG: interceptor/forwarder.py forwarder() streams the body with client.send(), and httpx writes the "
    "whole request body before it reads the answer: the gateway's early 413 is never read while the tool has "
    "not sent its (10 GiB) body, so the tool waits; the forwarder should refuse a Content-Length above "
    "general_settings.max_body_bytes itself (and count streamed bytes) before opening the gateway request",
    strict=True,
)


@pytest.mark.parametrize("target", ["gateway", pytest.param("interceptor", marks=BUG_INTERCEPTOR_413)])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_huge_content_length_is_413_before_the_body_is_sent(
    daemon: Daemon, project_port: int, fake: ObservingUpstream, path: str, target: str
) -> None:
    port = daemon.port if target == "gateway" else project_port
    declared = 10 * 1024**3  # 10 GiB, of which only a few bytes are ever sent
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-memproxy-key: {MASTER_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        t0 = time.monotonic()
        sock.sendall(head + b'{"model": "gpt-4o", ')
        answer = read_response(sock)  # the rest of the 10 GiB is never sent
        took = time.monotonic() - t0
    figure(f"body_limit_content_length[{target}{path}]", declared_bytes=declared, sent_bytes=20, seconds=took)
    assert status_of(answer) == 413, answer[:300]
    assert took < 2
    assert b"request_too_large" in answer
    assert fake.requests == []


@pytest.mark.regression(
    reason="BUG: a tool that declares a longer Content-Length than it sends, then waits for the answer, was held "
    "open for as long as it waited (gateway and interceptor alike, the forwarder's httpx request never completed "
    "its body); fixed: general_settings.body_timeout, a 400 once the body pauses that long",
    strict=True,
)
@pytest.mark.parametrize("target", ["gateway", "interceptor"])
@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_body_that_stops_short_of_its_content_length_is_a_400_after_body_timeout(
    daemon: Daemon, project_port: int, fake: ObservingUpstream, path: str, target: str
) -> None:
    port = daemon.port if target == "gateway" else project_port
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-memproxy-key: {MASTER_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 300\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT + 5) as sock:
        t0 = time.monotonic()
        sock.sendall(head + b'{"model": "gpt-4o", ')  # 20 of the 300 bytes, then the tool waits
        answer = read_response(sock)
        took = time.monotonic() - t0
    figure(f"body_stall[{target}{path}]", declared_bytes=300, sent_bytes=20, seconds=took)
    assert status_of(answer) == 400, answer[:300]
    assert BODY_TIMEOUT - 0.1 <= took < BODY_TIMEOUT + 2
    assert b"stopped arriving" in answer
    assert fake.requests == []


@pytest.mark.parametrize("target", ["gateway", "interceptor"])
def test_slow_body_that_keeps_coming_is_served(
    daemon: Daemon, project_port: int, fake: ObservingUpstream, target: str
) -> None:
    """body_timeout is a pause between pieces, not a limit on the whole upload."""
    port = daemon.port if target == "gateway" else project_port
    fake.script(text("slow but steady"))
    body = chat_body()
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-memproxy-key: {MASTER_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    pieces = [body[i : i + len(body) // 4 + 1] for i in range(0, len(body), len(body) // 4 + 1)]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for piece in pieces:  # the whole upload takes longer than body_timeout; no pause does
            time.sleep(BODY_TIMEOUT * 0.6)
            sock.sendall(piece)
        answer = read_response(sock)
    assert status_of(answer) == 200, answer[:300]
    assert b"slow but steady" in answer


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
def test_chunked_body_over_the_limit_is_cut_off_early(daemon: Daemon, fake: ObservingUpstream, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-memproxy-key: {MASTER_KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"x" * 1024
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(head)
        for _ in range(1024):  # would be 1 MiB; the limit is 4 KiB
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            sock.settimeout(0.05)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            finally:
                sock.settimeout(5)
            if answer:
                break
        if answer and b"\r\n\r\n" not in answer:
            answer += read_response(sock)
    figure(f"body_limit_chunked[{path}]", limit_bytes=MAX_BODY, sent_before_413=sent)
    assert status_of(answer) == 413, answer[:300]
    assert sent <= 16 * MAX_BODY
    assert fake.requests == []
