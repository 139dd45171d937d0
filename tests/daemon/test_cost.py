"""Usage in one shape for every dialect, read from the providers' exact usage objects (pure functions)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from daemon.cost import (
    Usage,
    merge_anthropic_stream_usage,
    usage_from_anthropic,
    usage_from_gemini,
    usage_from_openai,
    usage_from_responses,
)


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


def test_anthropic_usage_keeps_the_one_hour_writes_and_the_tier() -> None:
    usage = {
        "input_tokens": 3,
        "output_tokens": 250,
        "cache_read_input_tokens": 40000,
        "cache_creation_input_tokens": 12000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 10000},
        "service_tier": "standard",
    }
    got = usage_from_anthropic(usage)
    assert got == Usage(3, 250, 40000, 12000, cache_write_1h_tokens=10000, service_tier="standard")
    assert got.prompt_tokens == 52003


def test_anthropic_stream_usage_keeps_the_one_hour_writes_from_message_start() -> None:
    total = Usage()
    start = {
        "input_tokens": 5,
        "output_tokens": 1,
        "cache_creation_input_tokens": 9000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 9000},
        "service_tier": "priority",
    }
    merge_anthropic_stream_usage(total, start)
    merge_anthropic_stream_usage(total, {"output_tokens": 77})
    assert total == Usage(5, 77, 0, 9000, cache_write_1h_tokens=9000, service_tier="priority")


def test_litellm_translated_usage_keeps_the_one_hour_writes() -> None:
    # what LiteLLM's Anthropic adapter hands a /v1/chat/completions client
    usage = SimpleNamespace(
        prompt_tokens=10000 + 3000 + 7,
        completion_tokens=20,
        prompt_tokens_details=SimpleNamespace(
            cached_tokens=3000,
            cache_creation_tokens=10000,
            cache_creation_token_details=SimpleNamespace(ephemeral_5m_input_tokens=0, ephemeral_1h_input_tokens=10000),
        ),
        cache_creation_input_tokens=10000,
    )
    assert usage_from_openai(usage) == Usage(7, 20, 3000, 10000, cache_write_1h_tokens=10000)


def test_openai_usage_keeps_reasoning_and_the_served_tier() -> None:
    usage = {
        "prompt_tokens": 9000,
        "completion_tokens": 1200,
        "prompt_tokens_details": {"cached_tokens": 8000, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1000, "audio_tokens": 0},
    }
    got = usage_from_openai(usage, "priority")
    assert got == Usage(1000, 1200, 8000, 0, reasoning_tokens=1000, service_tier="priority")
    assert usage_from_openai(usage, None).service_tier is None
    assert usage_from_openai(usage, {"odd": 1}).service_tier is None


def test_responses_usage_keeps_cached_input_reasoning_and_tier() -> None:
    usage = {
        "input_tokens": 20000,
        "input_tokens_details": {"cached_tokens": 18000},
        "output_tokens": 900,
        "output_tokens_details": {"reasoning_tokens": 640},
        "total_tokens": 20900,
    }
    assert usage_from_responses(usage, "flex") == Usage(2000, 900, 18000, 0, reasoning_tokens=640, service_tier="flex")
    assert usage_from_responses(None) == Usage()


def test_gemini_usage_counts_thoughts_as_output_and_cached_apart() -> None:
    metadata = {
        "promptTokenCount": 250000,
        "cachedContentTokenCount": 50000,
        "candidatesTokenCount": 400,
        "thoughtsTokenCount": 600,
        "totalTokenCount": 251000,
    }
    got = usage_from_gemini(metadata)
    assert got == Usage(200000, 1000, 50000, 0, reasoning_tokens=600)
    assert got.prompt_tokens == 250000  # the >200k tier is measured on the whole prompt
    assert usage_from_gemini(None) == Usage()
