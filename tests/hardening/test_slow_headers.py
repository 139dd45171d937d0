"""Request heads that never end, or never stop growing (issue 16, item 6), against the real daemon, on
the gateway and on a project port: an idle connection, one dripping a header byte a second, a 1 MiB
header; a legitimate request with a 32 KiB cookie still works meanwhile.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from daemon.http_limits import HEAD_TIMEOUT_S
from tests.support.hardening import USER, figure, gateway_and_project
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def ports(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    with gateway_and_project(tmp_path_factory.mktemp("heads-home"), upstream.url, "heads") as ports:
        yield ports


def _closed_after(port: int, drip: bool, limit: float) -> tuple[float, bytes]:
    """Seconds until the server answers or closes a connection that idles (or drips), and what it sent."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(1.0)
        if drip:
            sock.sendall(HEAD)
        got = b""
        while time.monotonic() - started < limit:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                if drip:
                    try:
                        sock.sendall(b"X")
                    except OSError:
                        break
                continue
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        return time.monotonic() - started, got


@pytest.mark.regression(
    reason="BUG: 32 idle or dripping connections stayed open 160 s on the gateway and a project port"
)
def test_a_head_that_never_ends_is_closed_after_the_head_timeout(ports: dict[str, int]) -> None:
    cases = [(where, drip) for where in ports for drip in (False, True)]
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda c: _closed_after(ports[c[0]], c[1], HEAD_TIMEOUT_S + 20), cases))
    for (where, drip), (took, got) in zip(cases, results, strict=True):
        figure(
            "test_a_head_that_never_ends_is_closed_after_the_head_timeout",
            where=where,
            kind="drip" if drip else "idle",
            closed_s=took,
            answer=got.split(b"\r\n", 1)[0].decode(),
        )
        assert took < HEAD_TIMEOUT_S + 3, (where, drip, took)
        assert got.startswith(b"HTTP/1.1 408"), got


@pytest.mark.regression(reason="BUG: a 64 MiB header was accepted (+130 MB RSS)")
@pytest.mark.parametrize("where", ["gateway", "project"])
def test_a_huge_header_is_431(ports: dict[str, int], where: str) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", ports[where])) as sock:
        sock.settimeout(10)
        sock.sendall(HEAD + b"X-Big: ")
        sent = 0
        try:
            while sent < 16 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError:
            pass
    took = time.monotonic() - started
    figure("test_a_huge_header_is_431", where=where, sent_bytes=sent, took_s=took, answer=answer[:40].decode())
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert sent < 16 * 1024 * 1024


@pytest.mark.parametrize("where", ["gateway", "project"])
def test_a_large_legitimate_header_is_served(ports: dict[str, int], where: str) -> None:
    answer = httpx.post(
        f"http://127.0.0.1:{ports[where]}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": USER, "max_tokens": 5},
        headers={"cookie": "c=" + "a" * 32 * 1024},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
