"""`POST /v1/responses`: the OpenAI Responses API (Codex CLI's), through the Router's `aresponses`, or
straight to a deployment that has the Responses API itself (the fast path; `chat_only` says which).

Here: the body's shape, its usage, the relay of LiteLLM's Responses events, the relay of the
provider's own event bytes, reading a plain answer, and its error event. No memory tool loop.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import usage_from_responses
from daemon.dialects import Dialect, responses_error_event
from daemon.errors import InvalidRequest, UpstreamFailed
from daemon.gateway.answers import loads, reported_error
from daemon.gateway.closing_text import CLOSING, ClosingText, closing_event
from daemon.gateway.endpoint import Endpoint, Plain, Tally
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import responses_provider_finished
from daemon.gateway.longstrings import CutEvents
from daemon.gateway.pipeline import generate
from daemon.gateway.sse import SseEvent, WholeEvents, aclose, named_event
from daemon.gateway.streams import DeltaText, SequenceCheck, forget_bridge_text, response_text
from daemon.gateway.validation import refuse_redirect_fields, require_model

router = APIRouter()


def validate_responses_request(body: Mapping[str, Any]) -> str:
    """Check a Responses API body; return the requested model."""
    model = require_model(body)
    if "input" not in body:
        raise InvalidRequest("field 'input' is required")
    if not isinstance(body["input"], str | list):
        raise InvalidRequest("field 'input' must be a string or an array")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise InvalidRequest("field 'tools' must be an array of objects")
    refuse_redirect_fields(body)
    return model


def _event_data(event: Any) -> dict[str, Any]:
    # mode="json": event types are enums, which must go out as their values ("response.completed")
    return event if isinstance(event, dict) else event.model_dump(mode="json", exclude_none=True)


def _note_completed(tally: Tally, event: dict[str, Any]) -> None:
    """What a `response.completed` (or `.incomplete`) event tells the row: usage, tier, model."""
    response = event.get("response") or {}
    tally.usage = usage_from_responses(response.get("usage"), response.get("service_tier"))
    tally.model = response.get("model")


async def relay_responses(stream: Any, ex: Exchange, tally: Tally, _client_wants_usage: bool) -> AsyncIterator[bytes]:
    """LiteLLM's Responses events as typed SSE; ended properly only once `response.completed` arrived.

    Past 1 MiB of one message part, its text is kept here (`ClosingText`) and LiteLLM's chat bridge
    forgets it (`forget_bridge_text`); the closing events then get their texts from here.
    """
    completed = trimmed = False
    numbers = SequenceCheck()
    deltas = DeltaText()  # only to bound what LiteLLM keeps: the sequence numbers find a lost event here
    texts = ClosingText()
    try:
        async for event in stream:
            deltas.trim(stream)
            data = _event_data(event)
            kind = str(data.get("type", "message"))
            lost = numbers.gap(data)
            if lost is not None:
                raise UpstreamFailed(lost)  # LiteLLM skips an event it cannot parse and reads on
            if kind == "response.output_text.delta":
                ex.first_token()
                text = str(data.get("delta", ""))
                tally.add_text(text)
                texts.add(str(data.get("item_id")), data.get("content_index") or 0, text)
                if texts.spilled:
                    trimmed = forget_bridge_text(stream) or trimmed
            elif kind in ("response.completed", "response.incomplete"):
                if not responses_provider_finished(stream):
                    # LiteLLM's chat→Responses bridge completes whatever way its chat stream ended
                    raise UpstreamFailed("the upstream stream ended before the answer was complete")
                completed = True
                _note_completed(tally, data)
            tally.complete = completed
            if trimmed and kind in CLOSING:
                for piece in closing_event(kind, data, texts):
                    yield piece
            else:
                yield named_event(kind, data)
    finally:
        texts.close()
    if not completed:
        raise UpstreamFailed("the upstream stream ended before response.completed")


class _ResponsesBytesReader:
    """Reads a Responses stream's events as they pass (the fast path): text, usage, model, first token,
    a lost event, its end."""

    __slots__ = ("completed", "ex", "numbers", "tally")

    def __init__(self, ex: Exchange, tally: Tally) -> None:
        self.ex, self.tally = ex, tally
        self.numbers = SequenceCheck()
        self.completed = False

    def read(self, event: SseEvent) -> None:
        if event.data is None or event.data.strip() == b"[DONE]":
            return
        payload = loads(event.data, "stream event")
        if not isinstance(payload, dict):
            raise UpstreamFailed("the upstream sent a malformed stream event")
        lost = self.numbers.gap(payload)
        if lost is not None:
            raise UpstreamFailed(lost)
        kind = str(payload.get("type", ""))
        if kind.endswith(".delta"):
            self.ex.first_token()
            if kind == "response.output_text.delta":
                self.tally.add_text(str(payload.get("delta", "")))
        elif kind in ("response.completed", "response.incomplete"):
            _note_completed(self.tally, payload)
            self.completed = True
        elif kind in ("response.failed", "error"):
            error = (payload.get("response") or {}).get("error") if kind == "response.failed" else payload
            message = error.get("message") if isinstance(error, dict) else None
            self.tally.reported = UpstreamFailed(str(message or "the upstream stream failed"))


async def relay_responses_bytes(
    chunks: AsyncIterator[bytes], ex: Exchange, tally: Tally, _client_wants_usage: bool
) -> AsyncIterator[bytes]:
    """A Responses stream's own SSE bytes (the fast path), passed on unchanged as each event ends
    (`WholeEvents`; an event over 1 MiB as its bytes arrive).

    What is parsed is a copy whose over-long strings are cut (`LongStrings`): the closing events each
    repeat the whole answer, and only their usage, model and numbers are read here.
    """
    reader = _ResponsesBytesReader(ex, tally)
    cut, whole = CutEvents(), WholeEvents()
    try:
        async for chunk in chunks:
            for event in cut.feed(chunk):
                reader.read(event)
            tally.complete = reader.completed
            out = whole.feed(chunk)
            if out:
                yield out
        for event in cut.end():
            reader.read(event)
    finally:
        await aclose(chunks)
    if not reader.completed and tally.reported is None:
        raise UpstreamFailed("the upstream stream ended before response.completed")


def _plain(response: Any) -> Plain:
    if isinstance(response, dict):  # the fast path hands back the provider's JSON
        reported = reported_error(response, ("output",))
        if reported is not None:
            raise UpstreamFailed(reported)
        usage = usage_from_responses(response.get("usage"), response.get("service_tier"))
        return Plain(response, usage, response_text(response), response.get("model"))
    return Plain(
        response.model_dump_json(exclude_none=True).encode(),
        usage_from_responses(getattr(response, "usage", None), getattr(response, "service_tier", None)),
        getattr(response, "output_text", None),
        getattr(response, "model", None),
    )


def plain_response_id(value: Any) -> Any:
    """A response id as the provider made it: LiteLLM hands out its own (`resp_` + base64 of
    `litellm:custom_llm_provider:…;model_id:…;response_id:<the provider's>`), which only LiteLLM reads
    back; the fast path sends the provider's."""
    if not isinstance(value, str) or not value.startswith("resp_"):
        return value
    try:
        decoded = base64.b64decode(value[5:], validate=True).decode()
    except ValueError:
        return value
    head, marker, provider_id = decoded.partition(";response_id:")
    return provider_id if marker and head.startswith("litellm:custom_llm_provider:") and provider_id else value


def _for_provider(body: dict[str, Any]) -> dict[str, Any]:
    previous = body.get("previous_response_id")
    plain = plain_response_id(previous)
    return body if plain is previous else {**body, "previous_response_id": plain}


async def _call(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.aresponses(**kwargs)


RESPONSES = Endpoint(
    dialect=Dialect.OPENAI,
    path="/v1/responses",
    validate=validate_responses_request,
    call=_call,
    relay=relay_responses,
    relay_bytes=relay_responses_bytes,
    for_provider=_for_provider,
    plain=_plain,
    error_event=responses_error_event,
)


@router.post("/v1/responses")
@router.post("/responses", include_in_schema=False)
async def responses(request: Request) -> Response:
    return await generate(request, RESPONSES)
