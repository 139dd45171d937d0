"""Token usage in one shape for every dialect, read from the providers' own usage objects (pure).

`input_tokens` in the databank are the tokens billed at the full input rate: cache reads and
cache writes are counted apart, as Anthropic reports them and ccusage shows them. OpenAI's
`prompt_tokens` (and Gemini's `promptTokenCount`) include cached tokens, so they are taken out here.
Two buckets are parts of others, kept because they are priced differently: `cache_write_1h_tokens`
(of `cache_write_tokens`, written with Anthropic's 1-hour TTL) and `reasoning_tokens` (of
`output_tokens`). The prompt size the long-context tiers look at (Gemini's and Claude's >200k) is
`prompt_tokens`: all three input buckets. The service tier is the one the provider says it served.

Nothing here prices: `daemon.usage.pricing` does, with LiteLLM's cost functions, in the writer thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # of cache_write_tokens
    reasoning_tokens: int = 0  # of output_tokens
    service_tier: str | None = None

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token, cached or not: what tier thresholds are measured against."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _tier(value: Any) -> str | None:
    """A served service tier as a plain string (`priority`, `flex`, `default`, `standard`), else None."""
    value = getattr(value, "value", value)  # an enum
    return value.lower() if isinstance(value, str) and value and len(value) <= 40 else None


def _one_hour_writes(*holders: Any) -> int:
    """Anthropic's `cache_creation.ephemeral_1h_input_tokens`, or LiteLLM's translated
    `cache_creation_token_details`, wherever the usage object carries it."""
    for holder in holders:
        for found in (_get(holder, "cache_creation"), _get(holder, "cache_creation_token_details"), holder):
            count = _int(_get(found, "ephemeral_1h_input_tokens"))
            if count:
                return count
    return 0


def usage_from_openai(usage: Any, service_tier: Any = None) -> Usage:
    """From Chat Completions usage (OpenAI's, or LiteLLM's `Usage` translated from another provider)
    and the response's `service_tier`."""
    prompt = _int(_get(usage, "prompt_tokens"))
    details = _get(usage, "prompt_tokens_details")
    cache_read = _int(_get(details, "cached_tokens")) or _int(_get(usage, "cache_read_input_tokens"))
    cache_write = (
        _int(_get(usage, "cache_creation_input_tokens"))
        or _int(_get(details, "cache_creation_tokens"))
        or _int(_get(details, "cache_write_tokens"))
    )
    output = _int(_get(usage, "completion_tokens"))
    return Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=min(_one_hour_writes(details, usage), cache_write),
        reasoning_tokens=min(_int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens")), output),
        service_tier=_tier(service_tier) or _tier(_get(usage, "service_tier")),
    )


def usage_from_anthropic(usage: Any) -> Usage:
    """From an Anthropic usage (`input_tokens` already exclude cache tokens; the tier is in it)."""
    write = _int(_get(usage, "cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(_get(usage, "input_tokens")),
        output_tokens=_int(_get(usage, "output_tokens")),
        cache_read_tokens=_int(_get(usage, "cache_read_input_tokens")),
        cache_write_tokens=write,
        cache_write_1h_tokens=min(_one_hour_writes(usage), write),
        service_tier=_tier(_get(usage, "service_tier")),
    )


def usage_from_responses(usage: Any, service_tier: Any = None) -> Usage:
    """Responses API usage: `input_tokens` include cached ones (`input_tokens_details`), `output_tokens`
    the reasoning ones (`output_tokens_details`); the tier is the response's `service_tier`."""
    if usage is not None and not isinstance(usage, Mapping) and hasattr(usage, "model_dump"):
        usage = usage.model_dump()
    details = _get(usage, "input_tokens_details")
    cached = _int(_get(details, "cached_tokens"))
    # LiteLLM's bridge from another provider's chat answer adds the cache writes (without their TTL)
    write = _int(_get(details, "cache_write_tokens")) or _int(_get(details, "cache_creation_tokens"))
    output = _int(_get(usage, "output_tokens"))
    return Usage(
        input_tokens=max(_int(_get(usage, "input_tokens")) - cached - write, 0),
        output_tokens=output,
        cache_read_tokens=cached,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(_one_hour_writes(details, _get(details, "cache_write_tokens_details")), write),
        reasoning_tokens=min(_int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens")), output),
        service_tier=_tier(service_tier),
    )


def usage_from_gemini(metadata: Any) -> Usage:
    """Gemini's `usageMetadata`: cached tokens are part of `promptTokenCount`; thoughts are output,
    reported apart from `candidatesTokenCount`."""
    cached = _int(_get(metadata, "cachedContentTokenCount"))
    thoughts = _int(_get(metadata, "thoughtsTokenCount"))
    return Usage(
        input_tokens=max(_int(_get(metadata, "promptTokenCount")) - cached, 0),
        output_tokens=_int(_get(metadata, "candidatesTokenCount")) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def merge_anthropic_stream_usage(total: Usage, usage: Mapping[str, Any]) -> None:
    """Fold one streamed usage object (message_start or message_delta) into `total`: later non-zero values win."""
    for field, key in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cache_read_input_tokens"),
        ("cache_write_tokens", "cache_creation_input_tokens"),
    ):
        value = usage.get(key)
        if isinstance(value, int) and value:
            setattr(total, field, value)
    one_hour = _one_hour_writes(usage)
    if one_hour:
        total.cache_write_1h_tokens = one_hour
    total.cache_write_1h_tokens = min(total.cache_write_1h_tokens, total.cache_write_tokens)
    tier = _tier(usage.get("service_tier"))
    if tier:
        total.service_tier = tier
