"""Issue 6 end to end: requests through two projects and two models, then `stats`, `logs -q` and
`/metrics` read back from the real daemon agree with each other."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import Daemon
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e


def _send(daemon: Daemon, project: str, model: str, prompt: str) -> None:
    client = openai.OpenAI(
        base_url=f"{daemon.url}/v1", api_key="sk-client", default_headers={"x-memproxy-project": project}
    )
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])


def test_stats_metrics_and_search_agree_with_the_rows(gateway: Daemon, fake: FakeUpstream) -> None:
    sent = [
        ("alpha-proj", "gpt-4o", "a question about zebras"),
        ("alpha-proj", "claude-sonnet-4-5", "tell me about walruses"),
        ("beta-proj", "gpt-4o", "what about giraffes"),
        ("beta-proj", "claude-sonnet-4-5", "and narwhals"),
        ("beta-proj", "gpt-4o", "finally pelicans"),
    ]
    for project, model, prompt in sent:
        fake.script(text(f"an answer about {prompt.split()[-1]}"))
        _send(gateway, project, model, prompt)
    rows = gateway.wait_rows(lambda r: r["project"] in ("alpha-proj", "beta-proj"), count=len(sent))
    assert len(rows) == len(sent)

    stats = json.loads(gateway.cli("stats", "--by", "project", "--since", "1d", "--json").stdout)
    by_key = {row["key"]: row for row in stats["rows"]}
    for project in ("alpha-proj", "beta-proj"):
        mine = [r for r in rows if r["project"] == project]
        assert by_key[project]["requests"] == len(mine)
        assert by_key[project]["input_tokens"] == sum(r["input_tokens"] for r in mine)
        assert by_key[project]["output_tokens"] == sum(r["output_tokens"] for r in mine)
        assert math.isclose(by_key[project]["cost_usd"], sum(r["cost_usd"] or 0 for r in mine), abs_tol=1e-6)
        assert by_key[project]["cost_usd"] > 0

    found = json.loads(gateway.cli("logs", "-q", "walruses", "--json").stdout)
    assert [r["project"] for r in found] == ["alpha-proj"]

    metrics_text = httpx.get(f"{gateway.url}/metrics").text
    counted: dict[tuple[str, str], float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "memproxy_requests_total":
                counted[(sample.labels["project"], sample.labels["model"])] += sample.value
            if sample.name == "memproxy_cost_usd_total":
                cost[sample.labels["project"]] += sample.value
    for project in ("alpha-proj", "beta-proj"):
        for model in ("gpt-4o", "claude-sonnet-4-5"):
            expected = sum(1 for r in rows if r["project"] == project and r["model"] == model)
            assert counted[(project, model)] == expected
        assert math.isclose(cost[project], by_key[project]["cost_usd"], abs_tol=1e-6)
