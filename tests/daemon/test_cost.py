"""Usage in one shape for both dialects and its price from a price map (pure functions)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from daemon.cost import (
    Usage,
    cost_usd,
    find_prices,
    merge_anthropic_stream_usage,
    usage_from_anthropic,
    usage_from_openai,
)

PRICES = {
    "claude-sonnet-4-5": {
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
    },
    "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
    "openai/only-prefixed": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
    "no-price": {"max_tokens": 10},
}


def test_openai_usage_takes_cache_out_of_prompt_tokens() -> None:
    usage = {"prompt_tokens": 1200, "completion_tokens": 40, "prompt_tokens_details": {"cached_tokens": 1000}}
    assert usage_from_openai(usage) == Usage(200, 40, 1000, 0)


def test_openai_usage_from_litellm_style_objects_with_cache_write() -> None:
    usage = SimpleNamespace(
        prompt_tokens=1310,
        completion_tokens=5,
        prompt_tokens_details=SimpleNamespace(cached_tokens=1000),
        cache_creation_input_tokens=300,
    )
    assert usage_from_openai(usage) == Usage(10, 5, 1000, 300)


def test_openai_usage_falls_back_to_cache_read_input_tokens() -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 1, "cache_read_input_tokens": 20}
    assert usage_from_openai(usage) == Usage(30, 1, 20, 0)


@pytest.mark.parametrize("usage", [None, {}, {"prompt_tokens": None}, {"prompt_tokens": "12"}, {"prompt_tokens": True}])
def test_openai_usage_tolerates_missing_or_odd_values(usage: object) -> None:
    assert usage_from_openai(usage) == Usage()


def test_openai_usage_never_goes_negative() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 9}}
    assert usage_from_openai(usage).input_tokens == 0


def test_anthropic_usage_keeps_input_apart_from_cache() -> None:
    usage = {
        "input_tokens": 12,
        "output_tokens": 7,
        "cache_read_input_tokens": 5000,
        "cache_creation_input_tokens": 800,
    }
    assert usage_from_anthropic(usage) == Usage(12, 7, 5000, 800)
    assert usage_from_anthropic(SimpleNamespace(**usage)) == Usage(12, 7, 5000, 800)
    assert usage_from_anthropic(None) == Usage()
    assert usage_from_anthropic({"input_tokens": None, "output_tokens": 3}) == Usage(0, 3, 0, 0)


def test_anthropic_stream_usage_merges_start_and_delta() -> None:
    total = Usage()
    start = {"input_tokens": 30, "output_tokens": 1, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
    merge_anthropic_stream_usage(total, start)
    merge_anthropic_stream_usage(total, {"output_tokens": 42})
    assert total == Usage(30, 42, 100, 0)
    merge_anthropic_stream_usage(total, {"input_tokens": 0, "output_tokens": None})  # zeros never erase
    assert total == Usage(30, 42, 100, 0)


def test_find_prices_tries_bare_then_provider_prefixed_then_unprefixed() -> None:
    assert find_prices(PRICES, "gpt-4o", "openai") is PRICES["gpt-4o"]
    assert find_prices(PRICES, "only-prefixed", "openai") is PRICES["openai/only-prefixed"]
    assert find_prices(PRICES, "anthropic/claude-sonnet-4-5", None) is PRICES["claude-sonnet-4-5"]
    assert find_prices(PRICES, "no-price", None) is None
    assert find_prices(PRICES, "unknown-local-model", "ollama") is None
    assert find_prices(PRICES, None, "openai") is None
    assert find_prices(PRICES, "", "openai") is None


def test_cost_prices_cache_reads_and_writes_at_their_rates() -> None:
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=1000, cache_write_tokens=200)
    expected = 100 * 3e-06 + 10 * 1.5e-05 + 1000 * 3e-07 + 200 * 3.75e-06
    assert cost_usd(usage, PRICES["claude-sonnet-4-5"]) == pytest.approx(expected)


def test_cost_without_cache_rates_uses_the_input_rate() -> None:
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=50, cache_write_tokens=5)
    expected = 155 * 2.5e-06 + 10 * 1e-05
    assert cost_usd(usage, PRICES["gpt-4o"]) == pytest.approx(expected)


def test_cost_is_none_without_prices_and_zero_without_tokens() -> None:
    assert cost_usd(Usage(5, 5), None) is None
    assert cost_usd(Usage(), PRICES["gpt-4o"]) == 0


def test_cost_matches_litellm_price_map() -> None:
    import litellm

    entry = find_prices(litellm.model_cost, "claude-sonnet-4-5", "anthropic")
    assert entry is not None
    usage = Usage(10, 20, 3000, 400)
    expected = (
        10 * entry["input_cost_per_token"]
        + 20 * entry["output_cost_per_token"]
        + 3000 * entry["cache_read_input_token_cost"]
        + 400 * entry["cache_creation_input_token_cost"]
    )
    assert cost_usd(usage, entry) == pytest.approx(expected)
    assert find_prices(litellm.model_cost, "gpt-4o", "openai") is not None
