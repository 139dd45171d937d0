"""The gateway's long-lived state (built once at start) and the per-request steps every route shares."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from daemon.cost import Usage, cost_usd, find_prices
from daemon.errors import AuthenticationFailed, InvalidProjectName, InvalidRequest, ModelNotFound
from daemon.gateway import passthrough
from daemon.gateway.exchange import Exchange, RecordSink
from daemon.gateway.llm import deployment_has_key, deployment_provider, deployment_target, find_deployment
from daemon.identity import Identity, resolve_identity
from daemon.usage.record import UsageRecord

if TYPE_CHECKING:
    import aiohttp
    from litellm import Router

    from daemon.config.settings import Settings
    from daemon.dialects import Dialect
    from daemon.memory.base import MemoryBackend
    from daemon.memory.capture import Capturer
    from daemon.observe.metrics import Metrics
    from daemon.observe.telemetry import Telemetry
    from daemon.usage.writer import UsageWriter

# Keys a wrapped tool gets so its SDK starts; never forwarded upstream as if they were real.
PLACEHOLDER_KEYS = frozenset({"memproxy", "sk-memproxy", "memproxy-placeholder"})


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

    def identity(self, request: Request) -> Identity:
        cr = self.settings.context_retrieval
        try:
            return resolve_identity(request.headers, self.settings.user_id_mappings, cr.scope)
        except InvalidProjectName as exc:
            raise InvalidRequest(str(exc)) from None

    def begin(self, request: Request, endpoint: str, ident: Identity | None = None) -> Exchange:
        """Start tracking a request (identity already checked by the caller when given)."""
        ident = ident or self.identity(request)
        record = UsageRecord(
            project=ident.project,
            user_id=ident.user_id,
            client=request.headers.get("user-agent"),
            endpoint=endpoint,
        )
        # the live set: a client key seen later in this request is redacted too
        return Exchange(record, self.sink or self.writer, self.secrets)

    async def remember(
        self, body: dict[str, Any], dialect: Dialect, model: str, ident: Identity, ex: Exchange
    ) -> dict[str, Any]:
        """`body` with the scope's memories injected (never fails the request), and capture armed."""
        cr = self.settings.context_retrieval
        if self.memory is None or not cr.enabled:
            return body
        from daemon.memory import augment, last_user_text
        from daemon.memory.retrieval import model_enabled

        if not model_enabled(cr.enabled_for_models, model):
            return body  # neither recalled nor captured: memory is off for this model
        augmented = await augment(
            body,
            dialect=dialect.value,
            model=model,
            backend=self.memory,
            scope=ident.memory_scope,
            cr=cr,
            user_id=ident.user_id,
        )
        ex.record.memory_hits = augmented.hits
        capturer = self.capturer
        question = last_user_text(body.get("messages") or [], dialect.value)
        if capturer is not None and capturer.enabled and question:

            def capture(answer: str) -> None:
                capturer.submit(ident.memory_scope, question, answer, user_id=ident.user_id)

            ex.after_success = capture
        return augmented.body

    def fast_target(
        self, dialect: Dialect, model: str, request: Request, upstream: dict[str, Any]
    ) -> passthrough.Target | None:
        """Where to send this request without LiteLLM, or None when the Router is needed."""
        if not self.settings.general_settings.fast_path:
            return None
        entry = self.deployment(model)
        shared, fallback_keys = self._router_only
        if entry is None or entry.model_name in shared:
            return None  # several deployments share the name: the Router balances them
        if entry.model_name in fallback_keys or model in fallback_keys:
            return None
        target_model, key, _base = deployment_target(entry, model)
        return passthrough.plan(
            dialect, entry.litellm_params, model, target_model, key or upstream.get("api_key"), request.headers
        )

    def deployment(self, model: str) -> Any | None:
        """The model_list entry serving `model`, looked up once per model name (wildcards are a scan)."""
        cache = self._deployments
        if model not in cache:
            if len(cache) >= 1024:  # clients choose model names: keep the cache bounded
                cache.clear()
            cache[model] = find_deployment(self.settings.model_list, model)
        return cache[model]

    @cached_property
    def _router_only(self) -> tuple[frozenset[str], frozenset[str]]:
        """Model names the fast path must leave to the Router: shared by several deployments, or
        named in a fallback rule. Fixed by the config, so worked out once."""
        names = [e.model_name for e in self.settings.model_list]
        shared = frozenset(n for n in names if names.count(n) > 1)
        fallback_keys = frozenset(key for rule in self.settings.router_settings.fallbacks for key in rule)
        return shared, fallback_keys

    def fast_client(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = passthrough.make_client()
        return self.http

    def price(self, usage: Usage, model: str | None, provider: str | None) -> float | None:
        return cost_usd(usage, find_prices(self.model_cost, model, provider))

    def upstream_kwargs(self, request: Request, ex: Exchange, model: str) -> dict[str, Any]:
        """Credentials for this call: the deployment's key, else the client's own key passed on."""
        entry = self.deployment(model)
        if entry is None:
            names = ", ".join(e.model_name for e in self.settings.model_list) or "none configured"
            raise ModelNotFound(f"model '{model}' is not configured (models: {names})")
        ex.record.provider = deployment_provider(entry)
        target = str(entry.litellm_params.get("model", ""))
        ex.record.resolved_model = target.split("/", 1)[1] if "/" in target and "*" not in target else None
        kwargs: dict[str, Any] = {}
        if not deployment_has_key(entry):
            key = client_key(request, self.settings.general_settings.master_key)
            if key is None:
                raise AuthenticationFailed(
                    f"no API key for model '{model}': set one for it in config.yaml (or the provider's key "
                    "variable before `memproxy up`), or send your own key",
                )
            self.seen_keys.add(key)
            kwargs["api_key"] = key
        return kwargs


class _Secrets:
    """Every key the gateway knows at the moment it is iterated (configured ones and clients' own)."""

    __slots__ = ("_gateway",)

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def __iter__(self) -> Iterator[str]:
        yield from self._gateway.settings.secrets
        yield from tuple(self._gateway.seen_keys)


def client_key(request: Request, master_key: str | None) -> str | None:
    """The provider key the client sent, if any (never the gateway's own master key or a placeholder)."""
    headers = request.headers
    candidates = [headers.get("x-api-key")]
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        candidates.append(auth[7:].strip())
    for key in candidates:
        if key and key != master_key and key not in PLACEHOLDER_KEYS:
            return key
    return None


def presented_keys(request: Request) -> list[str]:
    headers = request.headers
    keys = [headers.get("x-api-key"), headers.get("x-memproxy-key")]
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        keys.append(auth[7:].strip())
    return [k for k in keys if k]
