"""`POST /v1/embeddings`: OpenAI embeddings, through the Router's `aembedding`; one databank row each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import usage_from_openai
from daemon.dialects import Dialect
from daemon.errors import InvalidRequest
from daemon.gateway.body import parse_body, read_body
from daemon.gateway.edge import answer_recorded
from daemon.gateway.exchange import Exchange
from daemon.gateway.pipeline import call_llm, credentials, within_budget
from daemon.gateway.state import Gateway
from daemon.gateway.validation import refuse_redirect_fields, require_model

router = APIRouter()


def validate_embeddings_request(body: Mapping[str, Any]) -> str:
    """Check an OpenAI embeddings body; return the requested model."""
    model = require_model(body)
    if "input" not in body:
        raise InvalidRequest("field 'input' is required")
    refuse_redirect_fields(body)
    return model


async def _call(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.aembedding(**kwargs)


@router.post("/v1/embeddings")
@router.post("/embeddings", include_in_schema=False)
async def embeddings(request: Request) -> Response:
    async def handle(gw: Gateway, ex: Exchange) -> Response:
        raw = await read_body(request, gw.settings.general_settings)
        body = await parse_body(raw)
        model = validate_embeddings_request(body)
        ex.requested(model)
        upstream = await credentials(gw, request, ex, model)
        await within_budget(gw, ex, model, len(raw))
        response = await call_llm(gw, _call, {**body, **upstream})
        usage = usage_from_openai(getattr(response, "usage", None))
        ex.succeed(usage)
        return Response(response.model_dump_json(exclude_none=True), media_type="application/json")

    return await answer_recorded(request, Dialect.OPENAI, "/v1/embeddings", handle)
