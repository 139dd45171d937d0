"""Routes about the gateway itself: `/health` (open, for the lifecycle probe)."""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon import __version__
from daemon.dialects import Dialect
from daemon.gateway.edge import answer
from daemon.gateway.state import Gateway
from daemon.identity import identify

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    # "degraded": serving, but the databank is not taking rows (they wait in memory or the spool)
    databank = gw.writer.health()
    return JSONResponse(
        {
            "status": databank["status"],
            "reason": databank["reason"],
            "version": __version__,
            "uptime_s": round(time.time() - gw.started_at, 3),
            "pid": os.getpid(),
            "sessions": gw.memory.sessions() if gw.memory is not None else {},
            "rows_written": gw.writer.written,
            "databank": databank,
        }
    )


@router.post("/memproxy/ports/sync")
async def ports_sync(request: Request) -> JSONResponse:
    """Re-read the project registry and start/stop listeners to match (called by `memproxy ports`)."""
    hosted = getattr(request.app.state, "listeners", None)
    if hosted is None:
        return JSONResponse({"projects": {}, "hosting": False})
    return JSONResponse({"projects": await hosted.sync(), "hosting": True})


@router.post("/memproxy/budgets/sync")
async def budgets_sync(request: Request) -> Response:
    """Re-read the limits `memproxy budget set` wrote; answer each limit with its spend (the ledger's)."""

    async def handle(gw: Gateway) -> Response:
        if gw.budgets is None:
            return JSONResponse({"limits": []})
        from daemon.budgets.store import load_overrides
        from daemon.budgets.table import BudgetTable
        from daemon.errors import ConfigError, InvalidRequest

        try:
            overrides = await asyncio.to_thread(load_overrides, gw.settings.paths)
        except ConfigError as exc:  # the limits in force stay as they were
            raise InvalidRequest(str(exc)) from exc
        gw.budgets.retable(BudgetTable(gw.settings.budgets, overrides))
        return JSONResponse({"limits": gw.budgets.rows(gw.budgets.table.named)})

    return await answer(request, Dialect.OPENAI, handle)


@router.get("/memory-routing/info")
async def memory_routing_info(request: Request) -> Response:
    """What a request with these headers would be attributed to (project, user, memory scope)."""

    async def handle(gw: Gateway) -> Response:
        ident = identify(request.headers, gw.settings)
        return JSONResponse(
            {
                "project": ident.project,
                "user_id": ident.user_id,
                "matched_pattern": ident.matched_pattern,
                "memory_scope": ident.memory_scope,
                "memory_enabled": gw.settings.context_retrieval.enabled,
                "memory_backend": gw.settings.context_retrieval.backend,
            }
        )

    return await answer(request, Dialect.OPENAI, handle)
