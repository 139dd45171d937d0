"""`/metrics` stays bounded however many project names clients make up (issue 16, item 1), against the
real daemon: requests with random `x-memproxy-project` values, then a scrape.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.daemon import start_daemon
from tests.support.hardening import USER, assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

MADE_UP = 400
BOUND = 100  # daemon.observe.metrics.MAX_PROJECTS


@pytest.mark.regression(reason="BUG: 3,000 random project names made /metrics 5.95 MB (60,135 lines)")
def test_made_up_project_names_do_not_grow_metrics(
    upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    daemon = start_daemon(tmp_path_factory.mktemp("metrics-home"), config_text(upstream.url))
    try:
        port = assigned_port(daemon, "registered")
        body = {"model": "gpt-4o", "messages": USER, "max_tokens": 5}

        def send(project: str) -> int:
            with httpx.Client(timeout=30) as client:
                return client.post(
                    f"{daemon.url}/v1/chat/completions", json=body, headers={"x-memproxy-project": project}
                ).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(send, [f"p{uuid.uuid4().hex[:12]}" for _ in range(MADE_UP)]))
        assert statuses.count(200) == MADE_UP
        # a registered project first seen after the flood keeps its own name
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30).status_code == 200
        daemon.project_rows("registered")
        started = time.perf_counter()
        scraped = httpx.get(f"{daemon.url}/metrics", timeout=30)
        took = time.perf_counter() - started
    finally:
        daemon.down()
    assert scraped.status_code == 200
    projects = set(re.findall(r'project="([^"]*)"', scraped.text))
    figure(
        "test_made_up_project_names_do_not_grow_metrics",
        requests=MADE_UP,
        project_labels=len(projects),
        bytes=len(scraped.content),
        lines=scraped.text.count("\n"),
        scrape_s=took,
    )
    assert "registered" in projects and "other" in projects
    assert len(projects) <= BOUND + 2
