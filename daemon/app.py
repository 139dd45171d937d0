"""The app factory: `create_app(settings)` builds the gateway; nothing happens at import time."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, Request
from starlette.responses import Response

from daemon import __version__
from daemon.dialects import dialect_for_path, error_response
from daemon.errors import InternalError
from daemon.guard import GuardMiddleware

if TYPE_CHECKING:
    from daemon.config.settings import Settings
    from daemon.gateway.state import Gateway

log = logging.getLogger("memproxy.gateway")


def start_gateway(settings: Settings) -> Gateway:
    """Build the long-lived parts once: LiteLLM setup, the Router, the databank writer."""
    from daemon.gateway.llm import build_router, configure_litellm, import_litellm
    from daemon.gateway.state import Gateway
    from daemon.usage.store import mark_interrupted, open_db
    from daemon.usage.writer import UsageWriter

    for warning in configure_litellm(settings):
        log.warning(warning)
    conn = open_db(settings.paths.db_file)
    try:
        interrupted = mark_interrupted(conn)
    finally:
        conn.close()
    if interrupted:
        log.warning("marked %d request(s) left by a previous daemon as interrupted", interrupted)
    from daemon.usage.pricing import Prices, RecordPricer

    # Priced in the writer thread just before the insert; Prometheus and traces get the priced record there.
    prices = Prices.from_settings(settings, import_litellm())
    pricer = RecordPricer(prices)
    from daemon.budgets.ledger import EndedSink, open_ledger

    # seeded from the databank before the writer adds a row; then told of each row as it is priced
    budgets, alerter = open_ledger(settings, prices.unit_prices)
    writer = UsageWriter(settings.paths.db_file, prepare=pricer)
    writer.start()
    if not settings.general_settings.fast_path:
        # every request goes through LiteLLM: pay its lazy imports now, not on a first request
        threading.Thread(target=_warm_imports, name="memproxy-warmup", daemon=True).start()
    memory = capturer = uses = None
    if settings.context_retrieval.enabled or settings.tool_execution.enabled:
        from daemon.memory import open_backend
        from daemon.memory.capture import Capturer
        from daemon.memory.uses import UseLog

        memory = open_backend(settings)
        capturer = Capturer.from_settings(memory, settings.context_retrieval)
        uses = UseLog(memory)  # the store itself, below any semantic wrapper: the counts live there
    from daemon.observe.metrics import FanOut, Metrics
    from daemon.observe.telemetry import start_telemetry

    def registered() -> list[str]:
        from interceptor.registry import load

        return list(load(settings.paths))

    metrics = Metrics(secrets=settings.secrets, registered=registered)
    metrics.watch_databank(writer.health)
    telemetry = start_telemetry(settings.otel_endpoint) if settings.otel_endpoint else None
    pricer.observe(metrics, telemetry, budgets)
    metrics.watch_budgets(lambda: budgets.rows(_budget_labels(budgets, registered)))
    gateway = Gateway(
        metrics=metrics,
        telemetry=telemetry,
        settings=settings,
        router=build_router(settings),
        writer=writer,
        model_cost=import_litellm().model_cost,
        memory=memory,
        capturer=capturer,
        memory_uses=uses,
        budgets=budgets,
        alerter=alerter,
        # the ledger hears of a request's end first (its tokens), the writer queues its row after
        sink=FanOut(EndedSink(budgets), writer),
    )
    if memory is not None and settings.context_retrieval.embedding_model:
        from daemon.gateway.embedder import memory_backend

        # semantic retrieval needs the gateway's Router: the local store is wrapped once it exists
        gateway.memory = memory_backend(gateway, memory)
        gateway.capturer = Capturer.from_settings(gateway.memory, settings.context_retrieval)
    return gateway


def _budget_labels(budgets: Any, registered: Callable[[], list[str]]) -> list[str]:
    """The projects the budget gauge names: registered or with a budget of their own (bounded), and default."""
    try:
        names = set(registered())
    except Exception:  # an unreadable registry: the configured ones still show
        names = set()
    return sorted(names | set(budgets.table.named) | {"default"})


# Modules LiteLLM imports on its first call of each kind (~1.5 s and ~50 MB together). With the fast
# path on, same-dialect traffic never needs them, so only an all-LiteLLM daemon imports them early.
WARM_IMPORTS = (
    "litellm.llms.anthropic.pass_through.messages.streaming_iterator",
    "litellm.proxy.pass_through_endpoints.streaming_handler",
    "litellm.llms.anthropic.pass_through.adapters.streaming_iterator",
    "mcp",
)


def _warm_imports() -> None:
    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional module only costs the first request
            log.debug("warm-up import of %s failed: %s", name, exc)


class Hosted(Protocol):
    """Something the daemon runs beside the gateway for its whole life (the project listeners)."""

    async def sync(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


async def _close_memory(gateway: Gateway) -> None:
    """Store what capture has queued, then close the backend's connections."""
    try:
        if gateway.capturer is not None:
            await gateway.capturer.close()
        if gateway.memory_uses is not None:
            await gateway.memory_uses.close()
        if gateway.memory is not None:
            await gateway.memory.close()
    except Exception:
        log.exception("closing the memory backend failed")


def create_app(
    settings: Settings,
    gateway: Gateway | None = None,
    listeners: Callable[[], Hosted] | None = None,
) -> FastAPI:
    """The gateway ASGI app. Pass `gateway` to share already-built state (tests, the daemon) and
    `listeners` to host the project ports from start to stop."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = gateway is None
        app.state.gateway = gateway or start_gateway(settings)
        app.state.metrics = app.state.gateway.metrics
        hosted = listeners() if listeners is not None else None
        app.state.listeners = hosted
        if hosted is not None:
            for name, state in (await hosted.sync()).items():
                if state.get("error"):
                    log.warning("project %s: %s", name, state["error"])
        pruning = None
        if settings.logging.retention_days:
            from daemon.usage.retention import prune_daily

            pruning = asyncio.create_task(prune_daily(settings.paths.db_file, settings.logging.retention_days))
        try:
            yield
        finally:
            if pruning is not None:
                pruning.cancel()
            if app.state.gateway.telemetry is not None:
                # spans are made in the writer thread once a row is priced: let it finish those first
                await asyncio.to_thread(app.state.gateway.writer.flush, 2.0)
                app.state.gateway.telemetry.close()
            if hosted is not None:
                await hosted.stop()
            if app.state.gateway.alerter is not None:
                app.state.gateway.alerter.close()
            await _close_memory(app.state.gateway)
            if app.state.gateway.http is not None:
                await app.state.gateway.http.close()
            if owned:
                app.state.gateway.writer.close()

    app = FastAPI(title="memproxy", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    if gateway is not None:
        app.state.gateway = gateway
        app.state.metrics = gateway.metrics

    from daemon.routes import chat, count_tokens, embeddings, gemini, info, messages, metrics, models, responses

    # one module per endpoint; adding one is a module and a name here
    for route in (chat, messages, count_tokens, responses, gemini, embeddings, models, info, metrics):
        app.include_router(route.router)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        # routes answer their own errors through daemon.gateway.edge; this is for anything outside them
        err = InternalError(f"memproxy failed unexpectedly: {type(exc).__name__}")
        return error_response(dialect_for_path(request.url.path), err)

    general = settings.general_settings
    app.add_middleware(
        GuardMiddleware,
        master_key=general.master_key,
        allowed_origins=general.allowed_origins,
        extra_hosts=() if general.host in ("127.0.0.1", "::1", "localhost") else (general.host,),
    )
    return app
