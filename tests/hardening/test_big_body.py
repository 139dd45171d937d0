"""A big request body does not stall everyone else (issue 16, item 9): while a 25 MiB prompt or
100,000 tools are read, parsed, validated and sent on, and for a second after the answer (while the
request's objects are freed), `/health` is probed every 10 ms.

The test asserts generously (the machine may be loaded); the figures it prints go to
docs/reliability.md. `benchmarks/big_body_lag.py` measures the parse alone, in-process, against the
50 ms target; `benchmarks/big_request_lag.py` the whole request, in-process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MiB = 1024 * 1024
AFTER_S = 1.0
# /health every 10 ms until SIGTERM; prints "ready" after the first answer, then (at the end)
# [[when sent (epoch s), how long it took], ...]
PROBE = """
import json, signal, sys, time
import httpx
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
lags = []
with httpx.Client(timeout=60) as client:
    while not stop:
        started = time.time()
        client.get(sys.argv[1] + "/health")
        lags.append((started, time.time() - started))
        if len(lags) == 1:
            print("ready", flush=True)
        time.sleep(0.01)
print(json.dumps(lags))
"""


def _daemon(upstream: ObservingUpstream, home: Path, memory: bool | None) -> Iterator[Daemon]:
    d = start_daemon(home, config_text(upstream.url, timeout=60, max_body_bytes=64 * MiB, memory=memory))
    try:
        yield d
    finally:
        d.down()


@pytest.fixture(scope="module")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from _daemon(upstream, tmp_path_factory.mktemp("big-body-home"), memory=False)


@pytest.fixture(scope="module")
def daemon_with_memory(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Memory as configured by default: recall, injection and capture read the prompt too."""
    yield from _daemon(upstream, tmp_path_factory.mktemp("big-body-memory-home"), memory=None)


def _prompt(model: str = "gpt-4o") -> bytes:
    return json.dumps(
        {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "word " * 5_000_000}]}
    ).encode()


def _tools() -> bytes:
    tool = {"type": "object", "properties": {"a": {"type": "string", "description": "the thing to do"}}}
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": "does a thing", "parameters": tool}}
        for i in range(100_000)
    ]
    return json.dumps(
        {"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    ).encode()


@pytest.mark.regression(reason="BUG: a 24.7 MiB prompt stalled /health 2.9 s, 100,000 tools 1.1 s (json on the loop)")
# gpt-4o on /v1/chat/completions takes the fast path; claude is translated by LiteLLM
@pytest.mark.parametrize(
    ("shape", "memory"), [("prompt", False), ("tools", False), ("prompt", True), ("prompt-claude", False)]
)
def test_health_answers_while_a_big_body_is_parsed(request: pytest.FixtureRequest, shape: str, memory: bool) -> None:
    daemon: Daemon = request.getfixturevalue("daemon_with_memory" if memory else "daemon")
    raw = {"prompt": _prompt, "prompt-claude": lambda: _prompt("claude-sonnet-4-5"), "tools": _tools}[shape]()
    # the prober is a process of its own: the fake upstream, parsing the body in this one, holds its GIL
    prober = subprocess.Popen([sys.executable, "-c", PROBE, daemon.url], stdout=subprocess.PIPE, text=True)
    try:
        # probing already, however long a loaded machine takes to start a Python with httpx
        assert prober.stdout is not None and prober.stdout.readline().strip() == "ready", "the prober did not start"
        sent = time.time()
        answer = httpx.post(
            f"{daemon.url}/v1/chat/completions",
            content=raw,
            headers={"content-type": "application/json"},
            timeout=120,
        )
        took = time.time() - sent
        time.sleep(AFTER_S)  # the body is freed once the request is over: after the answer, off the loop
    finally:
        prober.send_signal(signal.SIGTERM)
        out, _ = prober.communicate(timeout=30)
    lags: list[tuple[float, float]] = json.loads(out)
    assert answer.status_code == 200, answer.text[:500]
    during = [lag for started, lag in lags if sent <= started <= sent + took]
    after = [lag for started, lag in lags if sent + took < started <= sent + took + AFTER_S - 0.1]
    figure(
        "test_health_answers_while_a_big_body_is_parsed",
        shape=shape,
        memory=memory,
        body_mib=len(raw) / MiB,
        answer_s=took,
        health_max_s=max(during, default=0.0),
        health_after_s=max(after, default=0.0),
        probes_during=len(during),
        worst_at_s=max(((lag, started - sent) for started, lag in lags), default=(0.0, 0.0))[1],
    )
    # /health kept answering while the body was read, parsed and sent on (before: one 2.9 s gap)
    assert len(during) >= 3
    # before (quiet machine / loaded): prompt 0.08 / 0.47 s, tools 0.82 / 2.27 s, prompt with memory
    # 2.8 / 6.1 s, through LiteLLM 0.09 s; parsed off the loop: 0.03-0.11 s, 0.04-0.12 s, 0.08 s and 0.10 s;
    # the tools also validated and freed off the loop: 0.012-0.041 s (0.078 s the same run before, loaded);
    # with memory, its turn keys hashed off the loop: 0.032-0.050 s
    bound = {"prompt": 0.3, "tools": 0.4, "prompt-claude": 1.0}[shape] * (3 if memory else 1)
    assert max(during) < bound
    # ... and after it, while its objects are freed (before: 100,000 tools freed in one cascade, on the loop)
    assert len(after) >= 3 and max(after) < bound
