"""`GET /v1/models`: the configured model names, in a list both the OpenAI and the Anthropic SDK read."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.gateway.state import Gateway

router = APIRouter()


@router.get("/v1/models")
@router.get("/models", include_in_schema=False)
async def list_models(request: Request) -> Response:
    """Configured model names, readable by both the OpenAI and the Anthropic SDK."""
    gw: Gateway = request.app.state.gateway
    created = int(gw.started_at)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    data = [
        {
            "id": entry.model_name,
            "object": "model",
            "created": created,
            "owned_by": "memproxy",
            "type": "model",
            "display_name": entry.model_name,
            "created_at": created_at,
        }
        for entry in gw.settings.model_list
    ]
    first = data[0]["id"] if data else None
    last = data[-1]["id"] if data else None
    return JSONResponse({"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last})
