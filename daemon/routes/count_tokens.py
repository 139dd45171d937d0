"""`POST /v1/messages/count_tokens`: Anthropic token counting (Claude Code asks before long turns).

Exact counts from the provider's counting API where it has one (Anthropic's; OpenAI's
`/v1/responses/input_tokens`, never asked of a chat-only server), else LiteLLM's local tokenizer (in a
thread, offline). One databank row each, with the tokens counted as its input and no cost: nothing
is generated and nothing is billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.cost import Usage
from daemon.dialects import Dialect
from daemon.gateway.body import parse_body, read_body
from daemon.gateway.chat_only import chat_only
from daemon.gateway.edge import answer_recorded
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import deployment_target
from daemon.gateway.pipeline import credentials
from daemon.gateway.state import Gateway
from daemon.gateway.token_count import count_tokens, system_text
from daemon.gateway.validation import check_types, refuse_redirect_fields, require_messages, require_model
from daemon.routes.messages import TYPES

router = APIRouter()

_TYPES = {name: types for name, types in TYPES.items() if name != "max_tokens"}


def validate_count_tokens_request(body: Mapping[str, Any]) -> str:
    """Check an Anthropic count_tokens body; return the requested model."""
    model = require_model(body)
    require_messages(body)
    check_types(body, _TYPES)
    refuse_redirect_fields(body)
    system_text(body.get("system"))  # a string or text blocks, else a 400
    return model


@router.post("/v1/messages/count_tokens")
@router.post("/messages/count_tokens", include_in_schema=False)
async def count_tokens_route(request: Request) -> Response:
    async def handle(gw: Gateway, ex: Exchange) -> Response:
        body = await parse_body(await read_body(request, gw.settings.general_settings))
        model = validate_count_tokens_request(body)
        ex.requested(model)
        # the same credentials a generation would carry: a keyless deployment counts with the client's key
        upstream = await credentials(gw, request, ex, model)
        entry = gw.deployment(model)
        assert entry is not None  # credentials() found it
        target, api_key, api_base = deployment_target(entry, gw.settings.router_settings.resolve_alias(model))
        tokens = await count_tokens(
            target,
            body["messages"],
            tools=body.get("tools"),
            system=body.get("system"),
            api_key=api_key or upstream.get("api_key"),
            api_base=api_base,
            # a server that speaks only Chat Completions has no counting API: it would answer 404
            ask_provider=not chat_only(entry.litellm_params),
        )
        ex.succeed(Usage(input_tokens=tokens))
        return JSONResponse({"input_tokens": tokens})

    return await answer_recorded(request, Dialect.ANTHROPIC, "/v1/messages/count_tokens", handle)
