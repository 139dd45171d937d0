"""Costs are worked out in the writer thread, for every ending with tokens; /metrics counts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream, cut_stream, text

CLAUDE_CODE = {  # a Claude Code turn: most of the prompt written to the 1-hour cache
    "input_tokens": 4,
    "cache_write_tokens": 50_000,
    "cache_write_1h_tokens": 40_000,
    "cache_read_tokens": 20_000,
    "output_tokens": 300,
}
# Sonnet 4.5 per token: input $3/MTok, 5m write $3.75, 1h write $6, read $0.30, output $15
PROMPT_COST = 4 * 3e-6 + 10_000 * 3.75e-6 + 40_000 * 6e-6 + 20_000 * 3e-7


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("priced-home"), gateway_config(upstream.url))


def _messages(served: Served, project: str, *, stream: bool) -> httpx.Response:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return httpx.post(f"{served.url}/v1/messages", json=body, headers={"x-memproxy-project": project}, timeout=10)


def test_a_claude_code_turn_is_priced_with_its_one_hour_writes(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    fake.script(text("Hello", usage=CLAUDE_CODE))
    assert _messages(served, project, stream=True).status_code == 200
    (row,) = served.wait_final(project)
    assert (row["status"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == ("ok", 50_000, 40_000)
    assert row["service_tier"] == "standard"
    assert row["cost_usd"] == pytest.approx(PROMPT_COST + 300 * 1.5e-5)


def test_a_broken_stream_is_priced_for_the_tokens_it_reported(served: Served, fake: FakeUpstream, project: str) -> None:
    # message_start reported the prompt (and 1 output token); then the upstream went away
    fake.script(cut_stream(2, text("one two three four five six", usage=CLAUDE_CODE)))
    _messages(served, project, stream=True).read()
    (row,) = served.wait_final(project)
    assert row["status"] == "error"
    assert row["cost_usd"] == pytest.approx(PROMPT_COST + 1 * 1.5e-5)


def test_metrics_count_the_priced_cost_and_the_tokens_by_kind(served: Served, fake: FakeUpstream, project: str) -> None:
    fake.script(text("Hello", usage=CLAUDE_CODE))
    assert _messages(served, project, stream=False).status_code == 200
    metrics = httpx.get(f"{served.url}/metrics", timeout=10).text  # the scrape waits for the writer

    def value(name: str, **labels: str) -> float:
        want = [f'{k}="{v}"' for k, v in {"project": project, "model": "claude-sonnet-4-5", **labels}.items()]
        lines = [line for line in metrics.splitlines() if line.startswith(f"{name}{{") and all(w in line for w in want)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    assert value("memproxy_cost_usd_total") == pytest.approx(PROMPT_COST + 300 * 1.5e-5)
    assert value("memproxy_tokens_total", kind="cache_write_1h") == 40_000
    assert value("memproxy_tokens_total", kind="cache_write") == 50_000


def test_a_local_model_stays_unpriced(tmp_path: Path, fake: FakeUpstream) -> None:
    config = gateway_config(fake.url).replace('model: "openai/gpt-*"', 'model: "hosted_vllm/gpt-*"')
    for served in serve_gateway(tmp_path / "home", config):
        body = {"model": "gpt-local-9", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(
            f"{served.url}/v1/chat/completions", json=body, headers={"x-memproxy-project": "local"}, timeout=10
        )
        assert r.status_code == 200, r.text
        (row,) = served.wait_final("local")
        assert row["input_tokens"] > 0 and row["cost_usd"] is None


async def test_litellm_prices_no_translated_answer_on_the_request_path(tmp_path: Path, fake: FakeUpstream) -> None:
    # LiteLLM's own cost calculator ran on every call it translated (0.5-3 ms on the event loop,
    # before the client got a byte); memproxy prices the row in the writer thread instead
    from litellm.types.llms.openai import AllMessageValues

    from daemon.config.settings import load_settings
    from daemon.gateway.llm import build_router, configure_litellm

    (tmp_path / "config.yaml").write_text(gateway_config(fake.url))
    settings = load_settings(env={"MEMPROXY_HOME": str(tmp_path)})
    configure_litellm(settings)
    router = build_router(settings)
    messages: list[AllMessageValues] = [{"role": "user", "content": "hi"}]
    fake.script(text("Hello", usage=CLAUDE_CODE))
    answer = await router.acompletion(model="claude-sonnet-4-5", messages=messages, max_tokens=64)
    assert answer.choices[0].message.content == "Hello"
    assert answer._hidden_params.get("response_cost") is None
    assert fake.last().path == "/v1/messages"  # LiteLLM still translated it
