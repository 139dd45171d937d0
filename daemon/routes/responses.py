"""`POST /v1/responses`: the OpenAI Responses API (Codex CLI's), through the Router's `aresponses`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import Usage
from daemon.dialects import Dialect, responses_error_event
from daemon.errors import InvalidRequest, UpstreamFailed
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import map_exception
from daemon.gateway.pipeline import Dialog, Plain, generate
from daemon.gateway.relay import Pricer, responses_provider_finished
from daemon.gateway.state import Gateway
from daemon.gateway.validation import refuse_redirect_fields

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


def validate_responses_request(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("field 'model' is required")
    if "input" not in body:
        raise InvalidRequest("field 'input' is required")
    if not isinstance(body["input"], str | list):
        raise InvalidRequest("field 'input' must be a string or an array")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise InvalidRequest("field 'tools' must be an array of objects")
    refuse_redirect_fields(body)
    return model


def _event_bytes(event: Any) -> tuple[bytes, dict[str, Any]]:
    # mode="json": event types are enums, which must go out as their values ("response.completed")
    data: dict[str, Any] = event if isinstance(event, dict) else event.model_dump(mode="json", exclude_none=True)
    kind = str(data.get("type", "message"))
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode(), data


async def relay_responses(
    stream: Any, ex: Exchange, price: Pricer, _client_wants_usage: bool, keep_text: bool
) -> AsyncIterator[bytes]:
    """LiteLLM's Responses events as typed SSE; ok only once `response.completed` arrived."""
    usage = Usage()
    text: list[str] = []
    model: str | None = None
    completed = False
    try:
        async for event in stream:
            chunk, data = _event_bytes(event)
            kind = data.get("type", "")
            if kind == "response.output_text.delta":
                ex.first_token()
                if keep_text:
                    text.append(str(data.get("delta", "")))
            elif kind in ("response.completed", "response.incomplete"):
                if not responses_provider_finished(stream):
                    # LiteLLM's chat→Responses bridge completes whatever way its chat stream ended
                    raise UpstreamFailed("the upstream stream ended before the answer was complete")
                completed = True
                response = data.get("response") or {}
                usage = usage_from_responses(response.get("usage"))
                model = response.get("model")
            yield chunk
        if not completed:
            raise UpstreamFailed("the upstream stream ended before response.completed")
        ex.succeed(usage, price(usage, model), "".join(text) if keep_text else None)
    except (asyncio.CancelledError, GeneratorExit):
        ex.disconnected(usage)
        raise
    except Exception as exc:
        err = map_exception(exc)
        ex.fail(err, usage)
        yield responses_error_event(ex.redacted(err))


def _plain(response: Any) -> Plain:
    return Plain(
        response.model_dump_json(exclude_none=True).encode(),
        usage_from_responses(getattr(response, "usage", None)),
        getattr(response, "output_text", None),
        getattr(response, "model", None),
    )


async def _call(gw: Gateway, kwargs: dict[str, Any]) -> Any:
    return await gw.router.aresponses(**kwargs)


async def _no_replay(response: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    raise InvalidRequest("the memory tool loop does not serve /v1/responses")
    yield b""  # pragma: no cover - makes this an async generator


RESPONSES = Dialog(
    dialect=Dialect.OPENAI,
    endpoint="/v1/responses",
    validate=validate_responses_request,
    call=_call,
    relay=relay_responses,
    plain=_plain,
    replay=_no_replay,
    # the Responses API has its own shapes: no fast path to chat/completions, no chat tool loop
    fast_path=False,
    tool_loop=False,
)


@router.post("/v1/responses")
@router.post("/responses", include_in_schema=False)
async def responses(request: Request) -> Response:
    return await generate(request, RESPONSES)
