"""The gateway's long-lived state, built once at start and shared by every request.

`Gateway` holds things, not decisions: the settings, the Router, the databank writer and the record
sinks, the memory backend and its capturer, the fast path's connection pool, the keys clients
brought (so they can be redacted by value) and a cache of deployment lookups. What a request does
with them is decided by the pipeline and the pure functions it calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from daemon.cost import Usage, cost_usd, find_prices
from daemon.gateway.exchange import RecordSink
from daemon.gateway.llm import find_deployment

if TYPE_CHECKING:
    import aiohttp
    from litellm import Router

    from daemon.config.settings import Settings
    from daemon.memory.base import MemoryBackend
    from daemon.memory.capture import Capturer
    from daemon.observe.metrics import Metrics
    from daemon.observe.telemetry import Telemetry
    from daemon.usage.writer import UsageWriter


@dataclass
class Gateway:
    """Everything a request needs that outlives it; lives on `app.state.gateway`."""

    settings: Settings
    router: Router
    writer: UsageWriter
    model_cost: dict[str, Any]
    memory: MemoryBackend | None = None
    capturer: Capturer | None = None
    # the fast path's connection pool, made on first use (it must be born inside the event loop)
    http: aiohttp.ClientSession | None = None
    # where finished records go: the databank writer, Prometheus, traces (default: the writer alone)
    sink: RecordSink | None = None
    metrics: Metrics | None = None
    telemetry: Telemetry | None = None
    started_at: float = field(default_factory=time.time)
    # keys clients brought, so they can be redacted by value like configured ones
    seen_keys: set[str] = field(default_factory=set)
    _deployments: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def secrets(self) -> Iterable[str]:
        """Every key known now, configured or brought by a client: the live set, never a snapshot."""
        return _Secrets(self)

    def deployment(self, model: str) -> Any | None:
        """The model_list entry serving `model` (or the name it is an alias of), looked up once per
        model name (wildcards are a scan)."""
        cache = self._deployments
        if model not in cache:
            if len(cache) >= 1024:  # clients choose model names: keep the cache bounded
                cache.clear()
            name = self.settings.router_settings.resolve_alias(model)
            cache[model] = find_deployment(self.settings.model_list, name)
        return cache[model]

    @cached_property
    def router_only(self) -> frozenset[str]:
        """Model names the fast path must leave to the Router: shared by several deployments, or
        named in a fallback rule. Fixed by the config, so worked out once."""
        names = [e.model_name for e in self.settings.model_list]
        shared = {n for n in names if names.count(n) > 1}
        fallback_keys = {key for rule in self.settings.router_settings.fallbacks for key in rule}
        return frozenset(shared | fallback_keys)

    def fast_client(self) -> aiohttp.ClientSession:
        """The fast path's one connection pool."""
        if self.http is None or self.http.closed:
            from daemon.gateway import passthrough

            self.http = passthrough.make_client()
        return self.http

    def price(self, usage: Usage, model: str | None, provider: str | None) -> float | None:
        return cost_usd(usage, find_prices(self.model_cost, model, provider))


class _Secrets:
    """Every key the gateway knows at the moment it is iterated (configured ones and clients' own)."""

    __slots__ = ("_gateway",)

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __iter__(self) -> Iterator[str]:
        yield from self._gateway.settings.secrets
        yield from tuple(self._gateway.seen_keys)
