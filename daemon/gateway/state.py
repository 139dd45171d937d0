"""The gateway's long-lived state, built once at start and shared by every request.

`Gateway` holds things, not decisions: the settings, the Router, the databank writer and the record
sinks, the memory backend and its capturer, the fast path's connection pool, the keys clients
brought (so they can be redacted by value; the most recently used few thousand) and a cache of
deployment lookups. What a request does
with them is decided by the pipeline and the pure functions it calls.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from daemon.gateway.exchange import RecordSink
from daemon.gateway.llm import find_deployment, provider_needs
from daemon.memory.freeze import FrozenBlocks

# How many client keys are held for redaction by value. Every new key a client brings is one entry; a
# daemon serving a team can meet thousands in a month, and a set kept them all for its whole life.
SEEN_KEYS_MAX = 4096

if TYPE_CHECKING:
    import aiohttp
    from litellm import Router

    from daemon.budgets.alerts import Alerter
    from daemon.budgets.ledger import Ledger
    from daemon.config.settings import Settings
    from daemon.gateway.credentials import Needs
    from daemon.memory.base import MemoryBackend
    from daemon.memory.capture import Capturer
    from daemon.memory.uses import UseLog
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
    # how often each memory went into a request (`memory list`), written off the request path
    memory_uses: UseLog | None = None
    # each conversation turn's memory block, repeated in its later requests so prompt caches hit
    frozen_memory: FrozenBlocks = field(default_factory=FrozenBlocks)
    # the fast path's connection pool, made on first use (it must be born inside the event loop)
    http: aiohttp.ClientSession | None = None
    # where finished records go: the databank writer, Prometheus, traces (default: the writer alone)
    sink: RecordSink | None = None
    metrics: Metrics | None = None
    telemetry: Telemetry | None = None
    # spend per project and the requests in flight against it (daemon.budgets); None: no budgets at all
    budgets: Ledger | None = None
    alerter: Alerter | None = None
    started_at: float = field(default_factory=time.time)
    # keys clients brought, so they can be redacted by value like configured ones (bounded: RecentKeys)
    seen_keys: RecentKeys = field(default_factory=lambda: RecentKeys(SEEN_KEYS_MAX))
    _deployments: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _needs: dict[int, Needs] = field(default_factory=dict, init=False, repr=False)

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

    def needs(self, entry: Any) -> Needs:
        """What the deployment `entry` needs from the environment, worked out once: the settings and the
        daemon's environment are fixed for its life (one entry per model_list entry)."""
        found = self._needs.get(id(entry))
        if found is None:
            found = self._needs[id(entry)] = provider_needs(entry.litellm_params)
        return found

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


class RecentKeys:
    """The client keys used most recently, at most `maxsize`; adding one that is held refreshes it.

    The trade-off: a key evicted (idle while `maxsize` newer ones came) is no longer redacted by value
    in *another* request's error. Its own requests still are (the pipeline adds the key again on each
    use, and the edge redacts the keys a request presents), so what is lost is an upstream echoing a
    long-idle key in an error of a request that did not carry it. Held keys live only in memory.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._keys: OrderedDict[str, None] = OrderedDict()
        # iterated by the databank writer's thread while requests add keys on the event loop
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.maxsize:
                self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            held = tuple(self._keys)
        return iter(held)


class _Secrets:
    """Every key the gateway knows at the moment it is iterated (configured ones and clients' own)."""

    __slots__ = ("_gateway",)

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __iter__(self) -> Iterator[str]:
        yield from self._gateway.settings.secrets
        yield from tuple(self._gateway.seen_keys)
