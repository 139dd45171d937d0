"""Project (interceptor) ports and project memory, as the end-to-end tests drive them through the CLI.

A daemon started here gets its own `interceptor.port_range` (from `gateway_config`), so tests never
collide with a real memproxy on 8800; tools reach it as a wrapped tool would, with `INTERCEPT_KEY`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai

from tests.support.config import gateway_config
from tests.support.daemon import Daemon, start_daemon
from tests.support.polling import wait_for

INTERCEPT_KEY = "memproxy"  # what `memproxy intercept` gives a tool: the gateway holds the real keys


def start(home: Path, upstream_url: str, extra: str = "", timeout: float = 10) -> Daemon:
    """`memproxy up` in `home` with the tests' gateway config (private port range) and `extra` sections."""
    return start_daemon(home, gateway_config(upstream_url, timeout=timeout, extra=extra))


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
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=INTERCEPT_KEY, max_retries=0, timeout=30)


def anthropic_at(port: int) -> anthropic.Anthropic:
    """The Anthropic SDK as a tool wrapped by `memproxy intercept` sees it."""
    return anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=INTERCEPT_KEY, max_retries=0, timeout=30)


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
    found: list[dict[str, Any]] = []

    def matched() -> bool:
        found[:] = memories(daemon, project)
        return any(where(m) for m in found)

    wait_for(matched, timeout, 0.1)
    return found


def remember(daemon: Daemon, project: str, *texts: str) -> None:
    """Seed the project's memory with `memproxy memory add`."""
    for text in texts:
        result = daemon.cli("memory", "add", "--project", project, text)
        assert result.returncode == 0, result.stderr
