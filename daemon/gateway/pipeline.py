"""One pipeline for every generating route, whatever its dialect.

read → validate → credentials → memory (retrieve + inject) → LiteLLM (or the memory tool loop)
→ relay or answer → databank row (+ memory capture once the answer is complete).

What differs between `/v1/chat/completions` and `/v1/messages` is a `Dialog`: how to validate,
which Router method to call, how to relay a stream, how to read a plain answer, how to replay a
finished answer as a stream. Everything else is written once, here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.cost import Usage
from daemon.dialects import Dialect, error_json
from daemon.errors import GatewayError, UpstreamTimeout
from daemon.gateway import passthrough
from daemon.gateway.body import parse_json_object, read_body
from daemon.gateway.exchange import Exchange, redact
from daemon.gateway.llm import map_exception
from daemon.gateway.relay import Pricer, relay_anthropic, relay_openai_sse
from daemon.gateway.sse import EventStreamResponse
from daemon.gateway.state import Gateway


@dataclass(frozen=True)
class Plain:
    """A finished, non-streamed answer as the client gets it and as the databank records it."""

    body: dict[str, Any] | bytes
    usage: Usage
    text: str | None
    model: str | None


@dataclass(frozen=True)
class Dialog:
    dialect: Dialect
    endpoint: str
    validate: Callable[[dict[str, Any]], str]
    call: Callable[[Gateway, dict[str, Any]], Awaitable[Any]]
    relay: Callable[[Any, Exchange, Pricer, bool, bool], AsyncIterator[bytes]]
    plain: Callable[[Any], Plain]
    replay: Callable[[dict[str, Any], bool], AsyncIterator[bytes]]
    # extra Router kwargs taken from request headers (e.g. `anthropic-beta`)
    headers: Callable[[Request], dict[str, Any]] = lambda request: {}
    # what a streamed call needs on top of the client's body (OpenAI: usage in the stream)
    stream_kwargs: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: {}
    # whether same-dialect requests may skip LiteLLM, and whether the memory tool loop applies
    fast_path: bool = True
    tool_loop: bool = True


def error_response(dialect: Dialect, err: GatewayError) -> Response:
    headers = {"retry-after": "1"} if err.status == 429 else None
    return Response(error_json(dialect, err), status_code=err.status, media_type="application/json", headers=headers)


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


async def generate(request: Request, dialog: Dialog) -> Response:
    """Serve one generating request end to end; every outcome ends its exchange exactly once."""
    gw: Gateway = request.app.state.gateway
    ex: Exchange | None = None
    try:
        ident = gw.identity(request)
        ex = gw.begin(request, dialog.endpoint, ident)
        raw = await read_body(request, gw.settings.general_settings)
        body = parse_json_object(raw)
        model = dialog.validate(body)
        ex.record.model = model
        stream = bool(body.get("stream"))
        ex.record.stream = stream
        if gw.settings.logging.store_prompts:
            ex.record.request_json = raw.decode("utf-8", "replace")
        upstream = {**gw.upstream_kwargs(request, ex, model), **dialog.headers(request)}
        original = body
        body = await gw.remember(body, dialog.dialect, model, ident, ex)
        price: Pricer = _pricer(gw, ex, model)
        if dialog.tool_loop and gw.settings.tool_execution.enabled and gw.memory is not None:
            return await _with_memory_tools(gw, dialog, ex, body, upstream, ident.memory_scope, price)
        target = gw.fast_target(dialog.dialect, model, request, upstream) if dialog.fast_path else None
        if target is not None:
            return await _fast(gw, dialog, ex, raw, original, body, target, price)
        if stream:
            ex.mark_in_flight()
            upstream.update(dialog.stream_kwargs(body))
        response = await _call(gw, dialog, {**body, **upstream})
        if stream:
            chunks = dialog.relay(response, ex, price, wants_usage(body), ex.wants_text)
            return EventStreamResponse(chunks, on_disconnect=ex.disconnected)
        plain = dialog.plain(response)
        ex.record.resolved_model = plain.model or ex.record.resolved_model
        ex.first_token()
        ex.succeed(plain.usage, price(plain.usage, plain.model), plain.text)
        content = plain.body if isinstance(plain.body, bytes) else json.dumps(plain.body).encode()
        return Response(content, media_type="application/json")
    except GatewayError as err:
        if ex is not None:
            ex.fail(err)
        return error_response(dialog.dialect, err.with_message(redact(err.message, gw.secrets)))


async def _call(gw: Gateway, dialog: Dialog, kwargs: dict[str, Any]) -> Any:
    """The LiteLLM call, bounded as a whole: LiteLLM would sleep out any Retry-After (up to 60 s)
    whatever `router_settings.timeout` says, keeping a client waiting long after its budget."""
    rs = gw.settings.router_settings
    budget = rs.timeout * (rs.num_retries + 1) + 1.0
    try:
        async with asyncio.timeout(budget):
            return await dialog.call(gw, kwargs)
    except TimeoutError:
        raise UpstreamTimeout(f"no answer from the upstream within {budget:.0f} s") from None
    except Exception as exc:
        raise map_exception(exc) from exc


def _pricer(gw: Gateway, ex: Exchange, model: str) -> Pricer:
    provider = ex.record.provider

    def price(usage: Usage, resolved: str | None) -> float | None:
        return gw.price(usage, resolved or ex.record.resolved_model or model, provider)

    return price


async def _with_memory_tools(
    gw: Gateway,
    dialog: Dialog,
    ex: Exchange,
    body: dict[str, Any],
    upstream: dict[str, Any],
    scope: str,
    price: Pricer,
) -> Response:
    """Let the model search memory itself; the client gets only the final answer (streamed if it asked)."""
    from daemon.tools.loop import run_tool_loop

    assert gw.memory is not None

    async def call_model(request_body: dict[str, Any]) -> dict[str, Any]:
        plain = dialog.plain(await _call(gw, dialog, {**request_body, **upstream}))
        return plain.body if isinstance(plain.body, dict) else json.loads(plain.body)

    try:
        result = await run_tool_loop(body, dialog.dialect, call_model, gw.memory, scope, gw.settings.tool_execution)
    except Exception as exc:
        raise map_exception(exc) from exc
    ex.record.tool_rounds = result.rounds
    final = dialog.plain(result.response)
    ex.record.resolved_model = final.model or ex.record.resolved_model
    ex.first_token()
    ex.succeed(result.usage, price(result.usage, final.model), final.text)
    if body.get("stream"):
        return EventStreamResponse(dialog.replay(result.response, wants_usage(body)), on_disconnect=lambda: None)
    return Response(json.dumps(result.response), media_type="application/json")


async def _fast(
    gw: Gateway,
    dialog: Dialog,
    ex: Exchange,
    raw: bytes,
    original: dict[str, Any],
    body: dict[str, Any],
    target: passthrough.Target,
    price: Pricer,
) -> Response:
    """Same dialect as the provider: send the client's bytes, relay the provider's bytes."""
    rs = gw.settings.router_settings
    stream = bool(body.get("stream"))
    client_wants_usage = wants_usage(body)
    if stream and dialog.dialect is Dialect.OPENAI and not client_wants_usage:
        body = {**body, **dialog.stream_kwargs(body)}
    ex.record.resolved_model = target.model
    if stream:
        ex.mark_in_flight()
    content = passthrough.request_bytes(raw, body, original, target)
    response = await passthrough.send(gw.fast_client(), target, content, retries=rs.num_retries, timeout=rs.timeout)
    if stream:
        chunks = passthrough.stream_bytes(response, rs.stream_timeout or rs.timeout)
        if dialog.dialect is Dialect.OPENAI:
            relayed = relay_openai_sse(chunks, ex, price, client_wants_usage, ex.wants_text)
        else:
            relayed = relay_anthropic(chunks, ex, price, ex.wants_text)
        return EventStreamResponse(relayed, on_disconnect=ex.disconnected)
    payload, data = await passthrough.read_json(response, rs.timeout)
    plain = dialog.plain(data)
    ex.record.resolved_model = plain.model or target.model
    ex.first_token()
    ex.succeed(plain.usage, price(plain.usage, plain.model), plain.text)
    return Response(payload, media_type="application/json")
