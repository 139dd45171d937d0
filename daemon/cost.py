"""Token usage in one shape for both dialects, and its price from LiteLLM's local price map.

`input_tokens` in the databank are the tokens billed at the full input rate: cache reads and
cache writes are counted (and priced) apart, as Anthropic reports them and ccusage shows them.
OpenAI's `prompt_tokens` include cached tokens, so they are taken out here.
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


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_openai(usage: Any) -> Usage:
    """From an OpenAI-shaped usage (LiteLLM's `Usage` or a dict)."""
    prompt = _int(_get(usage, "prompt_tokens"))
    cache_read = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens")) or _int(
        _get(usage, "cache_read_input_tokens")
    )
    cache_write = _int(_get(usage, "cache_creation_input_tokens"))
    return Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=_int(_get(usage, "completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def usage_from_anthropic(usage: Any) -> Usage:
    """From an Anthropic-shaped usage (`input_tokens` already exclude cache tokens)."""
    return Usage(
        input_tokens=_int(_get(usage, "input_tokens")),
        output_tokens=_int(_get(usage, "output_tokens")),
        cache_read_tokens=_int(_get(usage, "cache_read_input_tokens")),
        cache_write_tokens=_int(_get(usage, "cache_creation_input_tokens")),
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


def find_prices(
    model_cost: Mapping[str, Mapping[str, Any]], model: str | None, provider: str | None
) -> Mapping[str, Any] | None:
    """The price entry for `model`, trying the bare name, then `provider/name`, then without a provider prefix."""
    if not model:
        return None
    candidates = [model]
    if provider:
        candidates.append(f"{provider}/{model}")
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = model_cost.get(name)
        if entry and entry.get("input_cost_per_token") is not None:
            return entry
    return None


def cost_usd(usage: Usage, prices: Mapping[str, Any] | None) -> float | None:
    """Price `usage`; None when the model has no price (a local or unknown model)."""
    if prices is None:
        return None
    input_rate = float(prices.get("input_cost_per_token") or 0.0)
    output_rate = float(prices.get("output_cost_per_token") or 0.0)
    read_rate = prices.get("cache_read_input_token_cost")
    write_rate = prices.get("cache_creation_input_token_cost")
    return (
        usage.input_tokens * input_rate
        + usage.output_tokens * output_rate
        + usage.cache_read_tokens * float(input_rate if read_rate is None else read_rate)
        + usage.cache_write_tokens * float(input_rate if write_rate is None else write_rate)
    )
