"""Anthropic-dialect routes: `/v1/messages` (Claude Code's) and `/v1/messages/count_tokens`.

Requests go through the Router's Anthropic Messages interface: for Anthropic deployments LiteLLM
passes the body through (thinking, cache_control and tool blocks intact); for other providers it
translates. LiteLLM does not price this path, so the relay and `_finish_plain` price it here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.body import parse_json_object, read_body
from daemon.cost import usage_from_anthropic
from daemon.dialects import Dialect
from daemon.errors import GatewayError
from daemon.exchange import Exchange
from daemon.gateway import Gateway
from daemon.llm import deployment_target, find_deployment, map_exception
from daemon.relay import relay_anthropic
from daemon.routes_openai import error_response
from daemon.sse import EventStreamResponse
from daemon.validation import validate_count_tokens_request, validate_messages_request

router = APIRouter()

# Request headers passed on to an Anthropic upstream: they select API features, never credentials.
FORWARDED_HEADERS = ("anthropic-beta",)


def _as_dict(response: Any) -> dict[str, Any]:
    if isinstance(response, dict):
        return response
    dump = getattr(response, "model_dump", None)
    if dump is not None:
        result: dict[str, Any] = dump(exclude_none=True)
        return result
    return dict(response)


def _text_of(message: dict[str, Any]) -> str:
    return "".join(
        b.get("text", "") for b in message.get("content") or [] if isinstance(b, dict) and b.get("type") == "text"
    )


@router.post("/v1/messages")
@router.post("/messages", include_in_schema=False)
async def messages(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ex: Exchange | None = None
    try:
        ex = gw.begin(request, "/v1/messages")
        raw = await read_body(request, gw.settings.general_settings.max_body_bytes)
        body = parse_json_object(raw)
        model = validate_messages_request(body)
        ex.record.model = model
        stream = bool(body.get("stream"))
        ex.record.stream = stream
        if gw.settings.logging.store_prompts:
            ex.record.request_json = raw.decode("utf-8", "replace")
        kwargs: dict[str, Any] = {**body, **gw.upstream_kwargs(request, ex, model)}
        extra = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        if extra:
            kwargs["extra_headers"] = extra
        if stream:
            ex.mark_in_flight()
        try:
            response = await gw.router.aanthropic_messages(**kwargs)
        except Exception as exc:
            raise map_exception(exc) from exc
        provider = ex.record.provider
        if stream:
            exchange = ex
            return EventStreamResponse(
                relay_anthropic(
                    response,
                    exchange,
                    lambda usage, resolved: gw.price(
                        usage, resolved or exchange.record.resolved_model or model, provider
                    ),
                    keep_text=exchange.record.request_json is not None,
                ),
                on_disconnect=exchange.disconnected,
            )
        message = _as_dict(response)
        if message.get("type") == "error":
            error = message.get("error") or {}
            raise GatewayError(502, "upstream", str(error.get("message") or "the upstream answered with an error"))
        usage = usage_from_anthropic(message.get("usage"))
        ex.record.resolved_model = message.get("model") or ex.record.resolved_model
        ex.first_token()
        ex.succeed(usage, gw.price(usage, ex.record.resolved_model or model, provider), _text_of(message))
        return Response(json.dumps(message), media_type="application/json")
    except GatewayError as err:
        if ex is not None:
            ex.fail(err)
        return error_response(Dialect.ANTHROPIC, err)


@router.post("/v1/messages/count_tokens")
@router.post("/messages/count_tokens", include_in_schema=False)
async def count_tokens(request: Request) -> Response:
    """Exact counts from the provider's counting API where it has one, else LiteLLM's local tokenizer."""
    gw: Gateway = request.app.state.gateway
    try:
        gw.identity(request)
        body = parse_json_object(await read_body(request, gw.settings.general_settings.max_body_bytes))
        model = validate_count_tokens_request(body)
        entry = find_deployment(gw.settings.model_list, model)
        if entry is None:
            raise GatewayError(404, "not_found", f"model '{model}' is not configured")
        target, api_key, api_base = deployment_target(entry, model)
        import litellm

        system = body.get("system")
        if isinstance(system, list):
            system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
        try:
            result = await litellm.acount_tokens(
                model=target,
                messages=body["messages"],
                tools=body.get("tools"),
                system=system,
                api_key=api_key,
                api_base=api_base,
            )
        except Exception as exc:
            raise map_exception(exc) from exc
        return JSONResponse({"input_tokens": int(result.total_tokens)})
    except GatewayError as err:
        return error_response(Dialect.ANTHROPIC, err)
