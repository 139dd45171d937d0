"""Issue 19 end to end: budgets through the real daemon, its project ports and the official SDKs.

Each request the fake upstream answers here reports 1000 input and 250 output tokens: $0.005 at
gpt-4o's price-map rates ($2.50 and $10 per million), so a $0.01 daily limit holds two of them.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import CLIENTS
from tests.support.daemon import Daemon
from tests.support.projects import INTERCEPT_KEY, assign, start
from tests.support.upstream import FakeUpstream, text
from tests.support.webhook import WebhookRecorder

pytestmark = pytest.mark.e2e

PER_REQUEST = 0.005
USAGE = {"input_tokens": 1000, "output_tokens": 250}


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def daemon(upstream: FakeUpstream, hook: WebhookRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    budgets = f"""budgets:
  projects:
    tight: {{daily: 0.01}}
    later: {{daily: 0.01}}
    crowd: {{daily: 0.05}}
    burst: {{daily: 0.05}}
    coder: {{daily: 0.001}}
  thresholds: [50, 100]
  alert_webhook: {hook.url}
  desktop_notifications: false
"""
    started = start(tmp_path_factory.mktemp("budgets-home"), upstream.url, extra=budgets)
    try:
        yield started
    finally:
        started.down()


@pytest.fixture(autouse=True)
def _priced_answers(fake: FakeUpstream) -> None:
    fake.default = text("within budget", usage=USAGE)


def _openai(port: int) -> openai.OpenAI:
    # the SDK's own retries left on: a refusal must not be sent three times
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=INTERCEPT_KEY, max_retries=2, timeout=30)


def _anthropic(port: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=INTERCEPT_KEY, max_retries=2, timeout=30)


def _chat(client: openai.OpenAI, prompt: str = "hello") -> None:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])


def _priced_rows(daemon: Daemon, project: str, count: int) -> list[dict[str, Any]]:
    return daemon.wait_rows(lambda r: r["project"] == project and r["cost_usd"] is not None, count)


def _budget_json(daemon: Daemon) -> dict[str, dict[str, Any]]:
    result = daemon.cli("budget", "--json")
    assert result.returncode == 0, result.stderr
    return {row["project"]: row for row in json.loads(result.stdout) if row["model"] is None}


def _spent_in_databank(daemon: Daemon, project: str) -> float:
    return sum(r["cost_usd"] or 0.0 for r in daemon.rows() if r["project"] == project)


def test_a_spent_daily_budget_is_refused_in_both_dialects_once_and_alerts_once_per_threshold(
    daemon: Daemon, hook: WebhookRecorder
) -> None:
    port = assign(daemon, "tight")
    oa, an = _openai(port), _anthropic(port)
    _chat(oa)
    _chat(oa)
    _priced_rows(daemon, "tight", 2)

    with pytest.raises(openai.APIStatusError) as refused_openai:
        _chat(oa)
    with pytest.raises(anthropic.APIStatusError) as refused_anthropic:
        an.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    for caught in (refused_openai.value, refused_anthropic.value):
        assert caught.status_code == 402
        said = str(caught)
        for part in (
            "'tight'",
            "daily budget of $0.0100",
            "$0.0100 spent today",
            "resets",
            "memproxy budget set tight",
        ):
            assert part in said, said

    # another project is not refused
    _chat(_openai(assign(daemon, "roomy")))

    refused = daemon.wait_rows(lambda r: r["project"] == "tight" and r["http_status"] == 402, 2)
    assert len(refused) == 2  # recorded once each: the SDKs did not retry a 402
    assert {r["status"] for r in refused} == {"error"} and all("daily budget" in r["error"] for r in refused)

    # 50% and 100% told once each; an alert of another project, sent after, shows none came since
    _chat(_openai(assign(daemon, "later")))
    told = hook.wait(3)
    assert [(a["project"], a["threshold_percent"]) for a in told] == [("tight", 50), ("tight", 100), ("later", 50)]
    assert told[1]["spent_usd"] == pytest.approx(0.01) and told[1]["limit_usd"] == 0.01


def test_the_gauge_and_budget_json_agree_with_the_databank(daemon: Daemon) -> None:
    port = assign(daemon, "later")
    _priced_rows(daemon, "later", 1)
    spent = _spent_in_databank(daemon, "later")
    assert spent > 0
    row = _budget_json(daemon)["later"]
    assert row["limit_usd"] == 0.01 and row["spent_usd"] == round(spent, 6)
    assert row["percent"] == round(100 * spent / 0.01, 1)

    ratios = {
        (s.labels["project"], s.labels["period"], s.labels["model"]): s.value
        for family in text_string_to_metric_families(httpx.get(f"{daemon.url}/metrics").text)
        for s in family.samples
        if s.name == "memproxy_budget_ratio"
    }
    assert math.isclose(ratios[("later", "daily", "")], spent / 0.01, rel_tol=1e-9)
    assert port > 0


def test_sixteen_requests_at_once_reserve_their_estimates(daemon: Daemon, fake: FakeUpstream) -> None:
    # ~8000 bytes of body: about 2000 tokens at $2.50 per million, so each reserves ~$0.005 as it
    # starts; all 16 are admitted before any ends (the upstream takes 1.5 s), only the limit's worth fit
    fake.latency_ms = 1500
    port = assign(daemon, "burst")
    prompt = "budget " * 1140
    start = threading.Barrier(16)
    answered: list[int] = []
    refused: list[str] = []

    def client(n: int) -> None:
        oa = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=INTERCEPT_KEY, max_retries=0, timeout=30)
        start.wait()
        try:
            _chat(oa, prompt)
            answered.append(n)
        except openai.APIStatusError as exc:
            refused.append(f"{exc.status_code} {exc}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fits = round(0.05 / PER_REQUEST)
    assert 1 <= len(answered) <= fits, refused
    assert len(refused) == 16 - len(answered) and all(r.startswith("402 ") for r in refused)
    _priced_rows(daemon, "burst", len(answered))
    assert _spent_in_databank(daemon, "burst") <= 0.05 + 1e-9


def test_sixteen_clients_overshoot_by_at_most_one_request_each_and_a_restart_keeps_the_count(
    daemon: Daemon, tmp_path: Path
) -> None:
    port = assign(daemon, "crowd")
    answered: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        oa = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=INTERCEPT_KEY, max_retries=0, timeout=30)
        for _ in range(40):  # keep asking until refused, as an agent in a loop would
            try:
                _chat(oa)
            except openai.APIStatusError as exc:
                assert exc.status_code == 402, str(exc)
                with lock:
                    refused.append(n)
                return
            with lock:
                answered.append(n)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(set(refused)) == list(range(16))  # every client was stopped
    fits = round(0.05 / PER_REQUEST)
    # at most the limit's worth, plus one request per client in flight when it was reached
    assert fits <= len(answered) <= fits + 16
    rows = _priced_rows(daemon, "crowd", len(answered))
    spent = _spent_in_databank(daemon, "crowd")
    assert len(rows) == len(answered) and spent <= 0.05 + 16 * PER_REQUEST + 1e-9

    daemon.down()
    assert daemon.up().returncode == 0
    assert _budget_json(daemon)["crowd"]["spent_usd"] == round(spent, 6)
    with pytest.raises(openai.APIStatusError) as still:
        _chat(_openai(port))
    assert still.value.status_code == 402


def test_claude_code_shows_the_refusal_and_does_not_retry_it(daemon: Daemon, tmp_path: Path) -> None:
    # Claude Code retries a 429 again and again (8 requests in 90 s, still retrying, when measured);
    # a 402 it shows at once as "API Error: 402 <message>" and exits
    port = assign(daemon, "coder")
    _anthropic(port).messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    _priced_rows(daemon, "coder", 1)
    out = CLIENTS["claude-code"].run(daemon, "coder", "claude-sonnet-4-5", tmp_path)
    shown = out.stdout + out.stderr
    assert out.returncode != 0, shown
    assert "402" in shown and "project 'coder' has reached its daily budget of $0.0010" in shown, shown
    assert "memproxy budget set coder --daily" in shown, shown
    refused = daemon.wait_rows(lambda r: r["project"] == "coder" and r["http_status"] == 402)
    assert [r["client"] for r in refused] == ["claude"]


def test_budget_set_reaches_the_running_daemon_at_once(daemon: Daemon) -> None:
    port = assign(daemon, "tuned")
    oa = _openai(port)
    _chat(oa)  # no budget yet
    _priced_rows(daemon, "tuned", 1)
    lowered = daemon.cli("budget", "set", "tuned", "--daily", "0.004")
    assert lowered.returncode == 0 and "the running daemon applies it now" in lowered.stdout, lowered.stderr
    with pytest.raises(openai.APIStatusError) as refused:
        _chat(oa)
    assert refused.value.status_code == 402 and "daily budget of $0.0040" in str(refused.value)
    assert daemon.cli("budget", "set", "tuned", "--soft").returncode == 0
    _chat(oa)  # soft: alerts only
    assert daemon.cli("budget", "clear", "tuned").returncode == 0
