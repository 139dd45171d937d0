"""What memproxy turns off in LiteLLM once, at set-up: work it does on every call that memproxy never reads.

- Pricing on the request path. LiteLLM's `Logging.response_cost_calculator` prices every answer it
  translates (and every streamed one, at its end) before the caller gets it: a walk through the price
  map, the model's capabilities and a zero-cost diagnostic, 0.5 ms for a model in the map and ~3 ms
  for one that is not (a wildcard or local name, where every lookup misses and raises). memproxy
  prices each row itself, in the databank writer's thread (`usage/pricing.py`, LiteLLM's
  `cost_per_token` there), and never reads LiteLLM's `response_cost`, so here it answers None
  ("not priced"), a value its callers already handle.
- LiteLLM's own success logging fails on every `generateContent` answer its adapter translated and
  logs a traceback each time (`QuietGenaiLogging`).

Only `daemon.gateway.llm` calls this (LiteLLM imported there, offline).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("memproxy.llm")


def _unpriced(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


def skip_request_pricing(litellm: Any) -> None:
    """Make LiteLLM's per-call cost calculator a no-op (memproxy prices rows in its writer thread)."""
    from litellm.litellm_core_utils import litellm_logging

    logging_class = getattr(litellm_logging, "Logging", None)
    if logging_class is None or not hasattr(logging_class, "response_cost_calculator"):
        version = getattr(litellm, "version", "?")
        log.warning("LiteLLM %s has no Logging.response_cost_calculator: it prices every call", version)
        return
    logging_class.response_cost_calculator = _unpriced


class QuietGenaiLogging(logging.Filter):
    """LiteLLM's own success logging fails on every generateContent answer its adapter translated (it
    looks for the HTTP response of a native Gemini call) and logs a traceback each time. memproxy
    records usage itself; the noise is dropped, LiteLLM's other errors are not."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Google GenAI Generate Content: httpx_response is None" not in record.getMessage()


def quiet_genai_logging() -> None:
    quiet = logging.getLogger("LiteLLM")
    if not any(isinstance(f, QuietGenaiLogging) for f in quiet.filters):
        quiet.addFilter(QuietGenaiLogging())
