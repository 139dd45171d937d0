"""What Anthropic's Messages API refuses about sampling parameters, as the real one does.

From Claude Opus 4.1 and the 4.5 family on, `temperature` and `top_p` may not be sent together:
the API answers 400 `invalid_request_error` "`temperature` and `top_p` cannot both be specified for
this model. Please use only one." (seen by LiteLLM, opencode and gptme users). Claude Sonnet 4 and
older accept both. Tools hard-code both (gemini-cli sends `temperature` and `topP` on every request).
"""

from __future__ import annotations

import re
from typing import Any

BOTH_REFUSED = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."

# opus-4-1, and every 4.5 or later (haiku-4-5, sonnet-4-5, opus-4-5, sonnet-4-6, ...), dated or not
_REFUSING = re.compile(r"claude-(?:opus-4-1|(?:opus|sonnet|haiku)-4-(?:[5-9]|\d\d))(?:\b|-|$)")


def refusal(body: dict[str, Any]) -> str | None:
    """The error message the real API answers this `/v1/messages` body with, or None."""
    model = str(body.get("model", ""))
    if "temperature" in body and "top_p" in body and _REFUSING.search(model):
        return BOTH_REFUSED
    return None
