"""OpenAI-dialect routes: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.cost import usage_from_openai
from daemon.dialects import Dialect
from daemon.errors import GatewayError, InvalidRequest
from daemon.gateway.body import parse_json_object, read_body
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import map_exception
from daemon.gateway.pipeline import Dialog, Plain, error_response, generate
from daemon.gateway.relay import relay_openai
from daemon.gateway.state import Gateway
from daemon.gateway.validation import refuse_redirect_fields, validate_chat_request

router = APIRouter()


def _answer_text(response: Any) -> str | None:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _plain(response: Any) -> Plain:
    if isinstance(response, dict):  # the tool loop hands back plain dicts
        choices = response.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
        return Plain(response, usage_from_openai(response.get("usage")), text, response.get("model"))
    return Plain(
        response.model_dump_json(exclude_none=True).encode(),
        usage_from_openai(getattr(response, "usage", None)),
        _answer_text(response),
        getattr(response, "model", None),
    )


async def _call(gw: Gateway, kwargs: dict[str, Any]) -> Any:
    return await gw.router.acompletion(**kwargs)


def _replay(response: dict[str, Any], include_usage: bool) -> Any:
    from daemon.tools.replay import replay_openai

    return replay_openai(response, include_usage=include_usage)


CHAT = Dialog(
    dialect=Dialect.OPENAI,
    endpoint="/v1/chat/completions",
    validate=validate_chat_request,
    call=_call,
    relay=relay_openai,
    plain=_plain,
    replay=_replay,
    # always ask for usage in the stream, so the databank gets tokens; the relay hides it if unasked
    stream_kwargs=lambda body: {"stream_options": {**(body.get("stream_options") or {}), "include_usage": True}},
)


@router.post("/v1/chat/completions")
@router.post("/chat/completions", include_in_schema=False)
async def chat_completions(request: Request) -> Response:
    return await generate(request, CHAT)


@router.post("/v1/embeddings")
@router.post("/embeddings", include_in_schema=False)
async def embeddings(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ex: Exchange | None = None
    try:
        ex = gw.begin(request, "/v1/embeddings")
        body = parse_json_object(await read_body(request, gw.settings.general_settings))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("field 'model' is required")
        if "input" not in body:
            raise InvalidRequest("field 'input' is required")
        refuse_redirect_fields(body)
        ex.record.model = model
        kwargs = {**body, **gw.upstream_kwargs(request, ex, model)}
        try:
            response = await gw.router.aembedding(**kwargs)
        except Exception as exc:
            raise map_exception(exc) from exc
        usage = usage_from_openai(getattr(response, "usage", None))
        ex.succeed(usage, gw.price(usage, ex.record.resolved_model or model, ex.record.provider))
        return Response(response.model_dump_json(exclude_none=True), media_type="application/json")
    except GatewayError as err:
        if ex is not None:
            ex.fail(err)
        return error_response(Dialect.OPENAI, err)


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
