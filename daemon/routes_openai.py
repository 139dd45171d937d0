"""OpenAI-dialect routes: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.body import parse_json_object, read_body
from daemon.cost import usage_from_openai
from daemon.dialects import Dialect, error_json
from daemon.errors import GatewayError
from daemon.exchange import Exchange
from daemon.gateway import Gateway
from daemon.llm import map_exception
from daemon.relay import relay_openai
from daemon.sse import EventStreamResponse
from daemon.validation import refuse_redirect_fields, validate_chat_request

router = APIRouter()


def error_response(dialect: Dialect, err: GatewayError) -> Response:
    headers = {"retry-after": "1"} if err.status == 429 else None
    return Response(error_json(dialect, err), status_code=err.status, media_type="application/json", headers=headers)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _answer_text(response: Any) -> str | None:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError):
        return None
    return content if isinstance(content, str) else None


@router.post("/v1/chat/completions")
@router.post("/chat/completions", include_in_schema=False)
async def chat_completions(request: Request) -> Response:
    gw = _gateway(request)
    ex: Exchange | None = None
    try:
        ex = gw.begin(request, "/v1/chat/completions")
        raw = await read_body(request, gw.settings.general_settings.max_body_bytes)
        body = parse_json_object(raw)
        model = validate_chat_request(body)
        ex.record.model = model
        stream = bool(body.get("stream"))
        ex.record.stream = stream
        if gw.settings.logging.store_prompts:
            ex.record.request_json = raw.decode("utf-8", "replace")
        kwargs = {**body, **gw.upstream_kwargs(request, ex, model)}
        client_wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if stream:
            kwargs["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
            ex.mark_in_flight()
        try:
            response = await gw.router.acompletion(**kwargs)
        except Exception as exc:
            raise map_exception(exc) from exc
        provider = ex.record.provider
        if stream:
            exchange = ex
            return EventStreamResponse(
                relay_openai(
                    response,
                    exchange,
                    lambda usage, resolved: gw.price(
                        usage, resolved or exchange.record.resolved_model or model, provider
                    ),
                    client_wants_usage,
                    keep_text=exchange.record.request_json is not None,
                ),
                on_disconnect=exchange.disconnected,
            )
        usage = usage_from_openai(getattr(response, "usage", None))
        ex.record.resolved_model = getattr(response, "model", None) or ex.record.resolved_model
        ex.first_token()
        ex.succeed(usage, gw.price(usage, ex.record.resolved_model or model, provider), _answer_text(response))
        return Response(response.model_dump_json(exclude_none=True), media_type="application/json")
    except GatewayError as err:
        if ex is not None:
            ex.fail(err)
        return error_response(Dialect.OPENAI, err)


@router.post("/v1/embeddings")
@router.post("/embeddings", include_in_schema=False)
async def embeddings(request: Request) -> Response:
    gw = _gateway(request)
    ex: Exchange | None = None
    try:
        ex = gw.begin(request, "/v1/embeddings")
        body = parse_json_object(await read_body(request, gw.settings.general_settings.max_body_bytes))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(400, "invalid_request", "field 'model' is required")
        if "input" not in body:
            raise GatewayError(400, "invalid_request", "field 'input' is required")
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
    gw = _gateway(request)
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
