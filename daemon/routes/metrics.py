"""`GET /metrics`: the Prometheus text of `app.state.metrics` (a `daemon.observe.metrics.Metrics`).

Records reach the metrics from the writer thread, once priced; a scrape first lets the writer take
what is queued (at most a second, off the event loop), so a request that has ended is counted.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    collected = getattr(request.app.state, "metrics", None)
    if collected is None:
        return Response("metrics are not collected by this gateway\n", status_code=404, media_type="text/plain")
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        await asyncio.to_thread(gateway.writer.flush, 1.0)
    # rendering reads every series under prometheus_client's locks: never on the event loop
    return Response(await asyncio.to_thread(collected.render), media_type=CONTENT_TYPE_LATEST)
