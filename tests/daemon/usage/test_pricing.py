"""Pricing in the writer thread with LiteLLM's cost functions: TTLs, tiers, overrides, what stays NULL."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import load_settings
from daemon.usage.pricing import Prices, RecordPricer, price_overrides
from daemon.usage.query import recent
from daemon.usage.record import UsageRecord
from daemon.usage.writer import UsageWriter


def _sonnet(**tokens: object) -> UsageRecord:
    return UsageRecord(model="claude-sonnet-4-5", resolved_model="claude-sonnet-4-5", provider="anthropic", **tokens)  # type: ignore[arg-type]


def test_one_hour_writes_cost_what_anthropic_charges_for_them() -> None:
    prices = Prices()
    five = prices.cost(_sonnet(cache_write_tokens=100_000))
    hour = prices.cost(_sonnet(cache_write_tokens=100_000, cache_write_1h_tokens=100_000))
    assert five == pytest.approx(100_000 * 3.75e-6)  # $3.75/MTok
    assert hour == pytest.approx(100_000 * 6e-6)  # $6/MTok: the measured -37% is gone


def test_the_tier_and_the_long_context_rates_apply() -> None:
    prices = Prices()
    gpt5 = {
        "model": "gpt-5",
        "resolved_model": "gpt-5",
        "provider": "openai",
        "input_tokens": 1000,
        "output_tokens": 1000,
    }
    assert prices.cost(UsageRecord(**gpt5)) == pytest.approx(1000 * 1.25e-6 + 1000 * 1e-5)  # type: ignore[arg-type]
    priority = prices.cost(UsageRecord(**gpt5, service_tier="priority"))  # type: ignore[arg-type]
    assert priority == pytest.approx(1000 * 2.5e-6 + 1000 * 2e-5)
    flex = prices.cost(UsageRecord(**gpt5, service_tier="flex"))  # type: ignore[arg-type]
    assert flex == pytest.approx(1000 * 6.25e-7 + 1000 * 5e-6)
    # Gemini 2.5 Pro: the whole prompt (cached included) is over 200k, so every token is at the higher rate
    gemini = UsageRecord(
        resolved_model="gemini-2.5-pro",
        provider="gemini",
        input_tokens=190_000,
        cache_read_tokens=20_000,
        output_tokens=10,
    )
    assert prices.cost(gemini) == pytest.approx(190_000 * 2.5e-6 + 20_000 * 2.5e-7 + 10 * 1.5e-5)


def test_what_is_not_billed_or_has_no_price_stays_null() -> None:
    prices = Prices()
    assert prices.cost(UsageRecord(resolved_model="llama3", provider="hosted_vllm", input_tokens=5)) is None
    assert prices.cost(UsageRecord(resolved_model="no-such-model-x", provider="openai", input_tokens=5)) is None
    assert prices.cost(_sonnet()) is None  # no tokens: nothing was billed
    assert prices.cost(_sonnet(input_tokens=10, status="in_flight")) is None
    assert prices.cost(_sonnet(input_tokens=10, endpoint="/v1/messages/count_tokens")) is None


def test_every_ending_with_tokens_is_priced() -> None:
    prices = Prices()
    for status in ("ok", "error", "client_disconnected", "interrupted"):
        assert prices.cost(_sonnet(input_tokens=1000, status=status)) == pytest.approx(1000 * 3e-6), status


def _config(home: Path, text: str) -> None:
    (home / "config.yaml").write_text(text)


def test_a_model_info_price_in_the_config_wins(memproxy_home: Path) -> None:
    _config(
        memproxy_home,
        """model_list:
  - model_name: house-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: sk-x}
    model_info: {input_cost_per_token: 0.00001, output_cost_per_token: 0.00002}
  - model_name: local-llama
    litellm_params: {model: openai/llama3, api_base: "http://127.0.0.1:9/v1", input_cost_per_token: 0.000001}
""",
    )
    settings = load_settings()
    assert price_overrides(settings)["house-sonnet"] == {"input_cost_per_token": 1e-05, "output_cost_per_token": 2e-05}
    prices = Prices.from_settings(settings)
    house = UsageRecord(
        model="house-sonnet",
        resolved_model="claude-sonnet-4-5",
        provider="anthropic",
        input_tokens=100,
        output_tokens=10,
    )
    assert prices.cost(house) == pytest.approx(100 * 1e-5 + 10 * 2e-5)
    # a price the config gives a model LiteLLM does not know prices it
    local = UsageRecord(model="local-llama", resolved_model="llama3", provider="openai", input_tokens=1000)
    assert prices.cost(local) == pytest.approx(1000 * 1e-6)


class _Seen:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def submit(self, record: UsageRecord) -> None:
        self.records.append(record)


def test_the_writer_prices_before_the_insert_and_then_tells_the_observers(tmp_path: Path) -> None:
    seen = _Seen()
    pricer = RecordPricer(Prices(), [seen])
    writer = UsageWriter(tmp_path / "memproxy.db", prepare=pricer)
    writer.start()
    record = _sonnet(input_tokens=10, cache_write_tokens=1000, cache_write_1h_tokens=1000, output_tokens=5)
    writer.submit(UsageRecord(id=record.id, status="in_flight"))
    writer.submit(record)
    assert writer.close()
    (row,) = recent(tmp_path / "memproxy.db", None)
    expected = 10 * 3e-6 + 1000 * 6e-6 + 5 * 1.5e-5
    assert row["cost_usd"] == pytest.approx(expected)
    assert row["cache_write_1h_tokens"] == 1000
    assert [r.cost_usd for r in seen.records] == [pytest.approx(expected)]  # the in-flight copy is not observed
