"""`GET /metrics`: the Prometheus text of `app.state.metrics` (a `daemon.observe.metrics.Metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    collected = getattr(request.app.state, "metrics", None)
    if collected is None:
        return Response("metrics are not collected by this gateway\n", status_code=404, media_type="text/plain")
    return Response(collected.render(), media_type=CONTENT_TYPE_LATEST)
