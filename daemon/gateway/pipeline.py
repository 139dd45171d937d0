"""One pipeline for every generating route, whatever its dialect.

read → validate → credentials → memory (recall + inject) → LiteLLM, the fast path or the memory
tool loop → relay or answer → databank row (+ memory capture once the answer is complete).

What differs between endpoints is an `Endpoint` (`daemon.gateway.endpoint`), handed in by the route;
errors on the way are answered by `daemon.gateway.edge`. Everything else is written once, here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.errors import GatewayStopping, ModelNotFound, UpstreamFailed, UpstreamTimeout
from daemon.gateway import passthrough
from daemon.gateway.answers import reported_error
from daemon.gateway.body import parse_body, read_body, validated
from daemon.gateway.credentials import NO_KEY, upstream_credentials
from daemon.gateway.edge import answer_recorded, guarded
from daemon.gateway.encode import dumps
from daemon.gateway.endpoint import Endpoint, Tally, wants_usage
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import (
    deployment_provider,
    deployment_target,
    map_exception,
    provider_model,
)
from daemon.gateway.reach import is_loopback, refused_locally
from daemon.gateway.sampling import compatible_sampling
from daemon.gateway.sse import EventStreamResponse
from daemon.gateway.state import Gateway

if TYPE_CHECKING:
    from litellm import Router


async def generate(request: Request, endpoint: Endpoint) -> Response:
    """Serve one generating request end to end; every outcome ends its exchange exactly once."""

    async def handle(gw: Gateway, ex: Exchange) -> Response:
        return await _generate(request, endpoint, gw, ex)

    return await answer_recorded(request, endpoint.dialect, endpoint.path, handle)


async def _generate(request: Request, endpoint: Endpoint, gw: Gateway, ex: Exchange) -> Response:
    raw = await read_body(request, gw.settings.general_settings)
    body = endpoint.framed(request, await parse_body(raw))
    model = await validated(raw, endpoint.validate, body)
    ex.requested(model, stream=bool(body.get("stream")), body=raw if gw.settings.logging.store_prompts else None)
    upstream = {**(await credentials(gw, request, ex, model)), **endpoint.headers(request)}
    await within_budget(gw, ex, model, len(raw))
    original = body
    body = await remember(gw, body, endpoint, model, ex)
    if endpoint.replay is not None and gw.settings.tool_execution.enabled and gw.memory is not None:
        return await _with_memory_tools(gw, endpoint, ex, body, upstream)
    target = fast_target(gw, endpoint, model, request, upstream)
    if target is not None:
        return await _fast(gw, endpoint, ex, raw, original, body, target)
    stream = bool(body.get("stream"))
    if stream:
        ex.mark_in_flight()
        upstream.update(endpoint.stream_kwargs(body))
    kwargs = compatible_sampling({**body, **upstream}, ex.record.resolved_model or "")
    response = await call_llm(gw, endpoint.call, kwargs)
    if stream:
        tally = Tally(ex.wants_text, ex.keep_chars)
        relay = endpoint.relay(response, ex, tally, wants_usage(body))
        return _streamed(relay, ex, tally, endpoint)
    return _answered(endpoint.plain(response), ex)


async def credentials(gw: Gateway, request: Request, ex: Exchange, model: str) -> dict[str, Any]:
    """The deployment serving `model` (noted on the exchange) and the key its call carries."""
    entry = gw.deployment(model)
    if entry is None:
        names = ", ".join(e.model_name for e in gw.settings.model_list) or "none configured"
        raise ModelNotFound(f"model '{model}' is not configured (models: {names})")
    aliased = gw.settings.router_settings.resolve_alias(model)
    provider = deployment_provider(entry)
    # the concrete name even for a wildcard: an error row says which model was asked of the provider
    ex.routed(provider, provider_model(deployment_target(entry, aliased)[0], provider))
    api_base = entry.litellm_params.get("api_base")
    # the probe connects, so it runs off the event loop; only loopback bases are probed at all
    probe = not gw.settings.router_settings.fallbacks and is_loopback(api_base)
    refused = await asyncio.to_thread(refused_locally, api_base) if probe else None
    if refused:
        raise UpstreamFailed(refused)  # fail fast: nothing a retry could change (a fallback would still be tried)
    params, master_key = entry.litellm_params, gw.settings.general_settings.master_key
    kwargs = upstream_credentials(params, model, request.headers, master_key, gw.needs(entry))
    if kwargs.get("api_key") not in (None, NO_KEY):
        gw.seen_keys.add(kwargs["api_key"])
    if aliased != model:
        kwargs["model"] = aliased  # the Router gets the name the alias stands for
    return kwargs


async def within_budget(gw: Gateway, ex: Exchange, model: str, size: int) -> None:
    """Before anything is sent: reserve the request's estimate, or refuse it (402) if the project's budget
    would be passed (daemon.budgets.ledger)."""
    if gw.budgets is not None:
        r = ex.record
        await gw.budgets.check(r.id, r.project, model, r.resolved_model, r.provider, size)


async def remember(gw: Gateway, body: dict[str, Any], endpoint: Endpoint, model: str, ex: Exchange) -> dict[str, Any]:
    """`body` with the scope's memories injected (never fails the request), and capture armed."""
    cr = gw.settings.context_retrieval
    if gw.memory is None or not cr.enabled or ex.identity is None:
        return body
    from daemon.memory import augment

    ident = ex.identity
    recalled = await augment(
        body,
        dialect=endpoint.dialect,
        model=model,
        backend=gw.memory,
        scope=ident.memory_scope,
        cr=cr,
        user_id=ident.user_id,
        frozen=gw.frozen_memory,
        secrets=ex.secrets,  # the keys this request presented and every key the gateway knows
    )
    ex.recalled(recalled.hits, [m.id for m in recalled.memories])
    if gw.memory_uses is not None:
        gw.memory_uses.note(ident.memory_scope, [m.id for m in recalled.memories])
    capturer, question = gw.capturer, recalled.question
    if capturer is not None and capturer.enabled and question:

        def capture(answer: str) -> None:
            capturer.submit(ident.memory_scope, question, answer, user_id=ident.user_id, secrets=ex.secrets)

        ex.after_success = capture
    return recalled.body


def fast_target(
    gw: Gateway, endpoint: Endpoint, model: str, request: Request, upstream: dict[str, Any]
) -> passthrough.Target | None:
    """Where to send this request without LiteLLM, or None when LiteLLM (or the Router) is needed."""
    if endpoint.relay_bytes is None or not gw.settings.general_settings.fast_path:
        return None
    entry = gw.deployment(model)
    if entry is None or entry.model_name in gw.router_only or model in gw.router_only:
        return None  # several deployments share the name, or a fallback names it: the Router decides
    target_model, key, _base = deployment_target(entry, gw.settings.router_settings.resolve_alias(model))
    return passthrough.plan(
        endpoint.dialect,
        endpoint.path,
        entry.litellm_params,
        model,
        target_model,
        key or upstream.get("api_key"),
        request.headers,
    )


async def call_llm(
    gw: Gateway, call: Callable[[Router, dict[str, Any]], Awaitable[Any]], kwargs: dict[str, Any]
) -> Any:
    """The LiteLLM call, bounded as a whole: LiteLLM would sleep out any Retry-After (up to 60 s)
    whatever `router_settings.timeout` says, keeping a client waiting long after its budget."""
    rs = gw.settings.router_settings
    budget = rs.timeout * (rs.num_retries + 1) + 1.0
    try:
        async with asyncio.timeout(budget):
            return await call(gw.router, kwargs)
    except TimeoutError:
        raise UpstreamTimeout(f"no answer from the upstream within {budget:.0f} s") from None
    except Exception as exc:
        raise map_exception(exc) from exc


def _streamed(relay: Any, ex: Exchange, tally: Tally, endpoint: Endpoint) -> Response:
    chunks = guarded(relay, ex, tally, endpoint.stream_error)

    def cut() -> bytes:
        """The daemon stops before the answer ends: an error row, and the client told why."""
        if ex.done:
            return b""  # the answer was whole: its row is written, nothing is owed
        err = GatewayStopping("memproxy stopped before the answer ended (memproxy down); ask again")
        ex.resolved(tally.model)
        ex.fail(err, tally.usage)
        return endpoint.stream_error(err)

    return EventStreamResponse(chunks, on_disconnect=ex.disconnected, on_cut=cut)


def _answered(plain: Any, ex: Exchange, content: bytes | None = None) -> Response:
    """A finished answer: recorded, then sent (the upstream's own bytes when given)."""
    ex.resolved(plain.model)
    ex.first_token()
    ex.succeed(plain.usage, plain.text)
    if content is None:
        content = plain.body if isinstance(plain.body, bytes) else dumps(plain.body)
    return Response(content, media_type="application/json")


async def _with_memory_tools(
    gw: Gateway,
    endpoint: Endpoint,
    ex: Exchange,
    body: dict[str, Any],
    upstream: dict[str, Any],
) -> Response:
    """Let the model search memory itself; the client gets only the final answer (streamed if it asked)."""
    from daemon.tools.loop import run_tool_loop

    assert gw.memory is not None and endpoint.replay is not None and ex.identity is not None

    async def call_model(request_body: dict[str, Any]) -> dict[str, Any]:
        kwargs = compatible_sampling({**request_body, **upstream}, ex.record.resolved_model or "")
        plain = endpoint.plain(await call_llm(gw, endpoint.call, kwargs))
        return plain.body if isinstance(plain.body, dict) else json.loads(plain.body)

    scope = ex.identity.memory_scope
    try:
        result = await run_tool_loop(
            body, endpoint.dialect, call_model, gw.memory, scope, gw.settings.tool_execution, secrets=ex.secrets
        )
    except Exception as exc:
        raise map_exception(exc) from exc
    ex.tool_rounds(result.rounds)
    final = endpoint.plain(result.response)
    ex.resolved(final.model)
    ex.first_token()
    ex.succeed(result.usage, final.text)
    if body.get("stream"):
        return EventStreamResponse(endpoint.replay(result.response, wants_usage(body)), on_disconnect=lambda: None)
    return Response(dumps(result.response), media_type="application/json")


async def _fast(
    gw: Gateway,
    endpoint: Endpoint,
    ex: Exchange,
    raw: bytes,
    original: dict[str, Any],
    body: dict[str, Any],
    target: passthrough.Target,
) -> Response:
    """Same dialect as the provider: send the client's bytes, relay the provider's bytes."""
    assert endpoint.relay_bytes is not None
    rs = gw.settings.router_settings
    stream = bool(body.get("stream"))
    client_wants_usage = wants_usage(body)
    added = endpoint.stream_kwargs(body) if stream and not client_wants_usage else {}
    body = endpoint.for_provider(body)
    ex.resolved(target.model)
    if stream:
        ex.mark_in_flight()
    content = passthrough.request_bytes(raw, body, original, target, added)
    response = await passthrough.send(gw.fast_client(), target, content, retries=rs.num_retries, timeout=rs.timeout)
    if stream and response.content_type == "application/json":
        # a JSON body where a stream was asked for: an error some servers send with a 200
        _, data = await passthrough.read_json(response, rs.timeout)
        said = reported_error(data, ())
        raise UpstreamFailed(said or "the upstream answered a stream request with a JSON body, not a stream")
    if stream:
        tally = Tally(ex.wants_text, ex.keep_chars)
        chunks = passthrough.stream_bytes(response, rs.stream_timeout or rs.timeout)
        return _streamed(endpoint.relay_bytes(chunks, ex, tally, client_wants_usage), ex, tally, endpoint)
    payload, data = await passthrough.read_json(response, rs.timeout)
    return _answered(endpoint.plain(data), ex, payload)
