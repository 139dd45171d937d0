"""Anthropic-dialect routes: `/v1/messages` (Claude Code's) and `/v1/messages/count_tokens`.

Requests go through the Router's Anthropic Messages interface: for Anthropic deployments LiteLLM
passes the body through (thinking, cache_control and tool blocks intact); for other providers it
translates. LiteLLM does not price this path, so the relay and `_finish_plain` price it here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.cost import usage_from_anthropic
from daemon.dialects import Dialect
from daemon.errors import GatewayError, InvalidRequest, ModelNotFound, UpstreamFailed
from daemon.gateway.body import parse_json_object, read_body
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import deployment_target, find_deployment, map_exception
from daemon.gateway.passthrough import header_value
from daemon.gateway.pipeline import Dialog, Plain, error_response, generate
from daemon.gateway.relay import Pricer, relay_anthropic
from daemon.gateway.state import Gateway
from daemon.gateway.validation import validate_count_tokens_request, validate_messages_request

router = APIRouter()

# Request headers passed on to an Anthropic upstream: they select API features, never credentials.
FORWARDED_HEADERS = ("anthropic-beta",)


def _as_dict(response: Any) -> dict[str, Any]:
    if isinstance(response, dict):
        # LiteLLM leaves its own bookkeeping (`_hidden_params`: deployment ids, headers) in the dict
        if any(key.startswith("_") for key in response):
            return {k: v for k, v in response.items() if not k.startswith("_")}
        return response
    dump = getattr(response, "model_dump", None)
    if dump is not None:
        result: dict[str, Any] = dump(exclude_none=True)
        return result
    return dict(response)


def _plain(response: Any) -> Plain:
    message = _as_dict(response)
    if message.get("type") == "error":
        error = message.get("error") or {}
        raise UpstreamFailed(str(error.get("message") or "the upstream answered with an error"))
    text = "".join(
        b.get("text", "") for b in message.get("content") or [] if isinstance(b, dict) and b.get("type") == "text"
    )
    return Plain(message, usage_from_anthropic(message.get("usage")), text, message.get("model"))


async def _call(gw: Gateway, kwargs: dict[str, Any]) -> Any:
    return await gw.router.aanthropic_messages(**kwargs)


def _relay(
    stream: Any, ex: Exchange, price: Pricer, _client_wants_usage: bool, keep_text: bool
) -> AsyncIterator[bytes]:
    return relay_anthropic(stream, ex, price, keep_text)


def _replay(message: dict[str, Any], _include_usage: bool) -> AsyncIterator[bytes]:
    from daemon.tools.replay import replay_anthropic

    return replay_anthropic(message)


def _headers(request: Request) -> dict[str, Any]:
    extra = {h: header_value(h, request.headers[h]) for h in FORWARDED_HEADERS if h in request.headers}
    return {"extra_headers": extra} if extra else {}


MESSAGES = Dialog(
    dialect=Dialect.ANTHROPIC,
    endpoint="/v1/messages",
    validate=validate_messages_request,
    call=_call,
    relay=_relay,
    plain=_plain,
    replay=_replay,
    headers=_headers,
)


@router.post("/v1/messages")
@router.post("/messages", include_in_schema=False)
async def messages(request: Request) -> Response:
    return await generate(request, MESSAGES)


@router.post("/v1/messages/count_tokens")
@router.post("/messages/count_tokens", include_in_schema=False)
async def count_tokens(request: Request) -> Response:
    """Exact counts from the provider's counting API where it has one, else LiteLLM's local tokenizer."""
    gw: Gateway = request.app.state.gateway
    try:
        gw.identity(request)
        body = parse_json_object(await read_body(request, gw.settings.general_settings))
        model = validate_count_tokens_request(body)
        entry = find_deployment(gw.settings.model_list, model)
        if entry is None:
            raise ModelNotFound(f"model '{model}' is not configured")
        target, api_key, api_base = deployment_target(entry, model)
        import litellm

        system = body.get("system")
        if isinstance(system, list):
            if not all(isinstance(b, dict) and isinstance(b.get("text", ""), str) for b in system):
                raise InvalidRequest("field 'system' must be text blocks")
            system = "\n".join(b.get("text", "") for b in system)
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
