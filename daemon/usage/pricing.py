"""What a finished request cost, worked out by LiteLLM's own cost functions, off the request path.

The request path only notes the usage (`daemon.cost.Usage` on the record). The writer thread
calls a `RecordPricer` on each record just before its insert: it rebuilds the usage as LiteLLM's
`Usage` (prompt tokens with their cached and cache-written parts, 1-hour writes in
`cache_creation_token_details`, reasoning tokens in `completion_tokens_details`) and asks
`litellm.cost_per_token` for the served model, provider and service tier. So 1-hour cache writes,
long-context tiers (measured on the whole prompt) and priority/flex rates are priced as LiteLLM
prices them. The same function re-prices stored rows (`memproxy reprice`).

A price in the config (`input_cost_per_token`, `cache_read_input_token_cost`, ... in a deployment's
`model_info` or `litellm_params`) overrides the price map's entry for that deployment. A model with
no price anywhere (a local server, an unknown name) keeps `cost_usd` NULL, as does a row with no
tokens and the token-counting endpoint (nothing was generated or billed).

After pricing, the record goes to the observers (Prometheus, traces), so they count what it cost.
LiteLLM is imported on first use, offline, by `daemon.gateway.llm` (the daemon has already paid it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from daemon.usage.record import UsageRecord

if TYPE_CHECKING:
    from daemon.config.settings import Settings

log = logging.getLogger("memproxy.usage")

# Rows that count tokens but bill none.
NOT_BILLED_ENDPOINTS = frozenset({"/v1/messages/count_tokens"})
_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class Observer(Protocol):
    def submit(self, record: UsageRecord) -> None: ...


def _is_price(key: str) -> bool:
    return "cost" in key and key != "max_cost"


def price_overrides(settings: Settings) -> dict[str, dict[str, float]]:
    """The prices the config sets, by deployment name and by the provider's model name."""
    found: dict[str, dict[str, float]] = {}
    for entry in settings.model_list:
        merged = {**(entry.litellm_params or {}), **(entry.model_info or {})}
        prices = {
            k: float(v)
            for k, v in merged.items()
            if _is_price(k) and isinstance(v, int | float) and not isinstance(v, bool)
        }
        if not prices:
            continue
        found[entry.model_name] = prices
        target = str(entry.litellm_params.get("model") or "")
        found.setdefault(target, prices)
        found.setdefault(target.split("/", 1)[-1], prices)
    return found


def _litellm() -> Any:
    from daemon.gateway.llm import import_litellm  # offline first: never fetch the price map

    return import_litellm()


def litellm_usage(litellm: Any, record: UsageRecord) -> Any:
    """The record's usage as LiteLLM's `Usage`, shaped as LiteLLM builds it from a provider's answer."""
    write = record.cache_write_tokens or 0
    one_hour = min(record.cache_write_1h_tokens or 0, write)
    read = record.cache_read_tokens or 0
    fresh = record.input_tokens or 0
    output = record.output_tokens or 0
    reasoning = min(record.reasoning_tokens or 0, output)
    prompt = fresh + read + write
    details: dict[str, Any] = {"cached_tokens": read, "text_tokens": fresh}
    if write:
        details["cache_creation_tokens"] = write
        details["cache_creation_token_details"] = {
            "ephemeral_5m_input_tokens": write - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        }
    completion: dict[str, Any] | None = None
    if reasoning:
        completion = {"reasoning_tokens": reasoning, "text_tokens": output - reasoning}
    return litellm.Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=prompt + output,
        prompt_tokens_details=details,
        completion_tokens_details=completion,
        cache_read_input_tokens=read,
        cache_creation_input_tokens=write,
    )


class Prices:
    """Looks up what a model costs (the price map, then the config's overrides) and prices records."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
        resolve_alias: Callable[[str], str] | None = None,
        litellm: Any = None,
    ) -> None:
        self.overrides = dict(overrides or {})
        self._alias = resolve_alias or (lambda name: name)
        self._module = litellm
        self._infos: dict[tuple[str, str | None], dict[str, Any] | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings, litellm: Any = None) -> Prices:
        return cls(price_overrides(settings), settings.router_settings.resolve_alias, litellm)

    @property
    def litellm(self) -> Any:
        if self._module is None:
            self._module = _litellm()
        return self._module

    def _info(self, model: str, provider: str | None) -> dict[str, Any] | None:
        """The price map's entry for `model` (None when it has no price), looked up once."""
        key = (model, provider)
        if key not in self._infos:
            if len(self._infos) >= 4096:  # model names come from clients and upstreams
                self._infos.clear()
            try:
                info = dict(self.litellm.get_model_info(model=model, custom_llm_provider=provider))
            except Exception:
                info = None
            if info is not None and info.get("input_cost_per_token") is None:
                info = None
            self._infos[key] = info
        return self._infos[key]

    def _override(self, record: UsageRecord) -> Mapping[str, float] | None:
        for name in (record.model, record.model and self._alias(record.model), record.resolved_model):
            if name and name in self.overrides:
                return self.overrides[name]
        return None

    def unit_prices(self, model: str | None, resolved: str | None, provider: str | None) -> tuple[float, float] | None:
        """USD per input and per output token of a request about to be sent, or None with no price (budgets)."""
        probe = UsageRecord(model=model, resolved_model=resolved, provider=provider)
        name = resolved or model
        info = self._info(name, provider) if name else None
        prices = {**(info or {}), **(self._override(probe) or {})}
        found = (prices.get("input_cost_per_token"), prices.get("output_cost_per_token"))
        if all(p is None for p in found):
            return None
        return float(found[0] or 0.0), float(found[1] or 0.0)

    def cost(self, record: UsageRecord) -> float | None:
        """What `record` cost in USD by today's prices; None when it is not billed or has no price."""
        if record.status == "in_flight" or record.endpoint in NOT_BILLED_ENDPOINTS:
            return None
        if not any(getattr(record, name) for name in _TOKEN_COLUMNS):
            return None
        model = record.resolved_model or record.model
        if not model:
            return None
        provider = record.provider
        info = self._info(model, provider)
        override = self._override(record)
        if info is None and override is None:
            return None
        kwargs: dict[str, Any] = {
            "model": model,
            "custom_llm_provider": provider,
            "usage_object": litellm_usage(self.litellm, record),
            "service_tier": record.service_tier,
        }
        if override is not None:
            kwargs["requested_model_info_override"] = {**(info or {}), **override}
        try:
            prompt_cost, completion_cost = self.litellm.cost_per_token(**kwargs)
        except Exception as exc:
            log.debug("could not price %s (%s): %s", model, provider, exc)
            return None
        return float(prompt_cost) + float(completion_cost)


class RecordPricer:
    """The writer thread's step before each insert: price the record, then hand it to the observers."""

    def __init__(self, prices: Prices, observers: Iterable[Observer | None] = ()) -> None:
        self.prices = prices
        self.observers = tuple(o for o in observers if o is not None)

    def observe(self, *observers: Observer | None) -> None:
        """Also hand each priced record to `observers` (set before the first request)."""
        self.observers += tuple(o for o in observers if o is not None)

    def __call__(self, record: UsageRecord) -> None:
        if record.status == "in_flight":
            return
        if record.cost_usd is None:
            try:
                record.cost_usd = self.prices.cost(record)
            except Exception:  # a price must never cost the row
                log.exception("could not price request %s", record.id)
        for observer in self.observers:
            try:
                observer.submit(record)
            except Exception:
                log.exception("usage observer %s failed", type(observer).__name__)
