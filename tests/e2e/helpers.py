"""Helpers for end-to-end tests that go through project (interceptor) ports and project memory.

They build on `tests.e2e.conftest` (the `Daemon` handle, `start_daemon`, `gateway_config`): a daemon
here also gets its own `interceptor.port_range`, so tests never collide with a real memproxy on 8800.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai

from tests.e2e.conftest import Daemon, free_port, gateway_config, start_daemon

RANGE_SIZE = 16
CLIENT_KEY = "memproxy"  # what `memproxy intercept` gives a tool: the gateway holds the real keys


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_range(size: int = RANGE_SIZE) -> tuple[int, int]:
    """`size` consecutive free loopback ports, picked at random away from 8800 and the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(20000, 30000 - size)
        if all(port_free(p) for p in range(low, low + size)):
            return low, low + size - 1
    raise RuntimeError("no free port range found")


def config(upstream_url: str, port_range: tuple[int, int], extra: str = "", timeout: float = 10) -> str:
    """The e2e gateway config plus a private port range and any extra sections."""
    low, high = port_range
    return gateway_config(upstream_url, timeout=timeout, extra=f"interceptor:\n  port_range: [{low}, {high}]\n{extra}")


def start(home: Path, upstream_url: str, extra: str = "", timeout: float = 10) -> Daemon:
    """`memproxy up` in `home` with a private port range."""
    return start_daemon(home, config(upstream_url, free_port_range(), extra, timeout), free_port())


def start_many(specs: dict[str, tuple[Path, str, str]]) -> dict[str, Daemon]:
    """Start several daemons at once ({name: (home, upstream_url, extra)}): a start takes seconds."""
    with ThreadPoolExecutor(len(specs)) as pool:
        futures = {name: pool.submit(start, *spec) for name, spec in specs.items()}
        return {name: f.result() for name, f in futures.items()}


def assign(daemon: Daemon, project: str) -> int:
    """`memproxy ports assign PROJECT`; the port it got (read back from `memproxy ports --json`)."""
    result = daemon.cli("ports", "assign", project)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daemon.log_tail()}"
    return port_of(daemon, project)


def ports(daemon: Daemon) -> dict[str, dict[str, Any]]:
    result = daemon.cli("ports", "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def port_of(daemon: Daemon, project: str) -> int:
    return int(ports(daemon)[project]["port"])


def openai_at(port: int) -> openai.OpenAI:
    """The OpenAI SDK as a tool wrapped by `memproxy intercept` sees it."""
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)


def anthropic_at(port: int) -> anthropic.Anthropic:
    """The Anthropic SDK as a tool wrapped by `memproxy intercept` sees it."""
    return anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=CLIENT_KEY, max_retries=0, timeout=30)


def memories(daemon: Daemon, project: str) -> list[dict[str, Any]]:
    """`memproxy memory list --project PROJECT --json`."""
    result = daemon.cli("memory", "list", "--project", project, "--json")
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def wait_memory(
    daemon: Daemon, project: str, where: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """The project's memories once one matches `where` (capture is asynchronous); all of them otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        found = memories(daemon, project)
        if any(where(m) for m in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def remember(daemon: Daemon, project: str, *texts: str) -> None:
    """Seed the project's memory with `memproxy memory add`."""
    for text in texts:
        result = daemon.cli("memory", "add", "--project", project, text)
        assert result.returncode == 0, result.stderr


def wait_port(port: int, up: bool = True, timeout: float = 10) -> bool:
    """True once the port is (or, with up=False, is no longer) accepting connections."""
    deadline = time.monotonic() + timeout
    while listening(port) != up:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
