"""`POST /v1/responses`: the OpenAI Responses API (Codex CLI's), through the Router's `aresponses`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.body import parse_json_object, read_body
from daemon.cost import Usage
from daemon.dialects import Dialect, stream_error_event
from daemon.errors import GatewayError
from daemon.exchange import Exchange
from daemon.gateway import Gateway
from daemon.generate import error_response
from daemon.llm import map_exception
from daemon.sse import EventStreamResponse
from daemon.validation import refuse_redirect_fields

router = APIRouter()


def usage_from_responses(usage: Any) -> Usage:
    """Responses API usage: `input_tokens` include cached ones, reported in `input_tokens_details`."""
    if usage is None:
        return Usage()
    data = usage if isinstance(usage, dict) else usage.model_dump()
    cached = int((data.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    return Usage(
        input_tokens=max(int(data.get("input_tokens") or 0) - cached, 0),
        output_tokens=int(data.get("output_tokens") or 0),
        cache_read_tokens=cached,
    )


def _event_bytes(event: Any) -> tuple[bytes, dict[str, Any]]:
    data: dict[str, Any] = event if isinstance(event, dict) else event.model_dump(exclude_none=True)
    kind = str(data.get("type", "message"))
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode(), data


async def relay_responses(stream: Any, ex: Exchange, gw: Gateway, model: str) -> AsyncIterator[bytes]:
    usage = Usage()
    completed = False
    try:
        async for event in stream:
            chunk, data = _event_bytes(event)
            kind = data.get("type", "")
            if kind == "response.output_text.delta":
                ex.first_token()
            elif kind in ("response.completed", "response.incomplete"):
                completed = True
                usage = usage_from_responses((data.get("response") or {}).get("usage"))
            yield chunk
        if not completed:
            raise GatewayError(502, "upstream", "the upstream stream ended before response.completed")
        ex.succeed(usage, gw.price(usage, ex.record.resolved_model or model, ex.record.provider))
    except (asyncio.CancelledError, GeneratorExit):
        ex.disconnected(usage)
        raise
    except Exception as exc:
        err = map_exception(exc)
        ex.fail(err, usage)
        yield stream_error_event(Dialect.OPENAI, err)


@router.post("/v1/responses")
@router.post("/responses", include_in_schema=False)
async def responses(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ex: Exchange | None = None
    try:
        ex = gw.begin(request, "/v1/responses")
        raw = await read_body(request, gw.settings.general_settings.max_body_bytes)
        body = parse_json_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(400, "invalid_request", "field 'model' is required")
        if "input" not in body:
            raise GatewayError(400, "invalid_request", "field 'input' is required")
        refuse_redirect_fields(body)
        ex.record.model = model
        stream = bool(body.get("stream"))
        ex.record.stream = stream
        if gw.settings.logging.store_prompts:
            ex.record.request_json = raw.decode("utf-8", "replace")
        kwargs = {**body, **gw.upstream_kwargs(request, ex, model)}
        if stream:
            ex.mark_in_flight()
        try:
            response = await gw.router.aresponses(**kwargs)
        except Exception as exc:
            raise map_exception(exc) from exc
        if stream:
            return EventStreamResponse(relay_responses(response, ex, gw, model), on_disconnect=ex.disconnected)
        usage = usage_from_responses(getattr(response, "usage", None))
        ex.first_token()
        ex.succeed(usage, gw.price(usage, ex.record.resolved_model or model, ex.record.provider))
        return Response(response.model_dump_json(exclude_none=True), media_type="application/json")
    except GatewayError as err:
        if ex is not None:
            ex.fail(err)
        return error_response(Dialect.OPENAI, err)
