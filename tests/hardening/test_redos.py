"""A user regex in `user_id_mappings.header_patterns` cannot freeze the daemon (issue 16, item 5): a
request through a project port, without any key, whose User-Agent makes `^(\\w+\\s?)+$` backtrack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import USER, assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

RULES = r"""user_id_mappings:
  header_patterns:
    - header: user-agent
      pattern: '^(\w+\s?)+$'
      user_id: words
    - header: user-agent
      pattern: '(a|aa)+$'
      user_id: ays
"""


@pytest.fixture(scope="module")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("redos-home"), config_text(upstream.url, extra=RULES))
    try:
        yield d
    finally:
        d.down()


@pytest.fixture(scope="module")
def project_port(daemon: Daemon) -> int:
    return assigned_port(daemon, "redos")


def _chat(port: int, agent: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": USER, "max_tokens": 5},
        headers={"user-agent": agent},
        timeout=60,
    )


@pytest.mark.regression(reason="BUG: a 26-character User-Agent held the loop 3.9 s, doubling per character")
@pytest.mark.parametrize("length", [28, 60, 5000])
def test_a_backtracking_user_agent_never_stalls_the_loop(daemon: Daemon, project_port: int, length: int) -> None:
    agent = "a" * length + "!"
    # untimed first: a fresh daemon's first request pays its first-use costs (pools, lazy imports), which a
    # loaded machine can stretch past the bounds below; "warm-up/1" matches neither rule
    assert _chat(project_port, "warm-up/1").status_code == 200
    lags: list[float] = []
    done, probing = threading.Event(), threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get(f"{daemon.url}/health")
                lags.append(time.perf_counter() - started)
                probing.set()
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        assert probing.wait(30), "the /health prober never had an answer"  # not a sleep: it probes already
        started = time.perf_counter()
        answer = _chat(project_port, agent)
        took = time.perf_counter() - started
        time.sleep(0.1)
    finally:
        done.set()
        prober.join()
    assert answer.status_code == 200, answer.text
    figure(
        "test_a_backtracking_user_agent_never_stalls_the_loop",
        length=length,
        answer_s=took,
        health_max_s=max(lags),
        probes=len(lags),
    )
    assert took < 1.0
    assert max(lags) < 0.5


def test_the_rules_still_match_what_they_should(daemon: Daemon, project_port: int) -> None:
    assert _chat(project_port, "claude cli").status_code == 200
    rows = daemon.wait_rows(lambda r: r["project"] == "redos" and r["user_id"] == "words")
    assert rows, daemon.rows()[-3:]
