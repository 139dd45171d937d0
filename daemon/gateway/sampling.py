"""Sampling parameters a tool sends that the model it reaches would refuse together.

Claude Opus 4.1 and every Claude 4.5 or later refuse `temperature` and `top_p` in one request (a
400: "`temperature` and `top_p` cannot both be specified for this model"), and LiteLLM forwards both.
Tools hard-code both (gemini-cli sends `temperature` and `topP` on every request; OpenAI-client
tools often do), so a translated request keeps `temperature` and drops `top_p`. A client speaking
Anthropic itself goes the fast path untouched and hears what Anthropic says, as it would directly.
"""

from __future__ import annotations

import re
from typing import Any

# opus-4-1 and any (opus|sonnet|haiku)-4-N with N >= 5, dated or not, under any provider's prefix
_BOTH_REFUSED = re.compile(r"claude-(?:opus-4-1|(?:opus|sonnet|haiku)-4-(?:[5-9]|\d\d))(?![0-9])")


def compatible_sampling(kwargs: dict[str, Any], target_model: str) -> dict[str, Any]:
    """`kwargs` without `top_p` (or a Gemini `generationConfig.topP`) when `target_model` refuses it
    beside `temperature` (pure; `kwargs` itself is not changed)."""
    if not _BOTH_REFUSED.search(target_model.lower()):
        return kwargs
    if "top_p" in kwargs and "temperature" in kwargs:
        kwargs = {name: value for name, value in kwargs.items() if name != "top_p"}
    config = kwargs.get("generationConfig")
    if isinstance(config, dict) and "temperature" in config and ("topP" in config or "top_p" in config):
        kept = {name: value for name, value in config.items() if name not in ("topP", "top_p")}
        kwargs = {**kwargs, "generationConfig": kept}
    return kwargs
