"""`POST /v1/chat/completions`: OpenAI Chat Completions, through the Router's `acompletion`.

Everything that is particular to this endpoint lives here: the body's shape, the relay of LiteLLM's
chat stream, the relay of an OpenAI upstream's own SSE bytes (the fast path), reading a plain answer,
and replaying a finished answer (the memory tool loop's) as a chat stream.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import usage_from_openai
from daemon.dialects import Dialect
from daemon.errors import UpstreamFailed
from daemon.gateway.answers import loads, reported_error
from daemon.gateway.endpoint import Endpoint, Plain, Tally
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import provider_finished
from daemon.gateway.pipeline import generate
from daemon.gateway.sse import SseEvent, aclose, data_event, sse_events
from daemon.gateway.streams import forget_old_chunks
from daemon.gateway.validation import check_tools, check_types, refuse_redirect_fields, require_messages, require_model

router = APIRouter()

_TYPES: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "stream_options": (dict,),
    "tools": (list,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "n": (int,),
    "extra_body": (dict,),
    "metadata": (dict,),
    "response_format": (dict,),
    "tool_choice": (str, dict),
    "stop": (str, list),
    "user": (str,),
    "seed": (int,),
}
_DELTA_FIELDS = ("content", "tool_calls", "reasoning_content", "function_call")


def validate_chat_request(body: Mapping[str, Any]) -> str:
    """Check an OpenAI Chat Completions body; return the requested model."""
    model = require_model(body)
    require_messages(body)
    check_types(body, _TYPES)
    check_tools(body)
    refuse_redirect_fields(body)
    return model


def _plain(response: Any) -> Plain:
    if isinstance(response, dict):  # the fast path and the tool loop hand back plain dicts
        reported = reported_error(response, ("choices",))
        if reported is not None:
            raise UpstreamFailed(reported)
        choices = response.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
        usage = usage_from_openai(response.get("usage"), response.get("service_tier"))
        return Plain(response, usage, text, response.get("model"))
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        content = None
    return Plain(
        response.model_dump_json(exclude_none=True).encode(),
        usage_from_openai(getattr(response, "usage", None), getattr(response, "service_tier", None)),
        content if isinstance(content, str) else None,
        getattr(response, "model", None),
    )


def _empty_delta(delta: Any) -> bool:
    return not any(getattr(delta, name, None) for name in _DELTA_FIELDS)


async def relay_chat(stream: Any, ex: Exchange, tally: Tally, client_wants_usage: bool) -> AsyncIterator[bytes]:
    """LiteLLM's chat stream as OpenAI SSE (`data: {...}` ... `data: [DONE]`)."""
    finished = False
    async for chunk in stream:
        forget_old_chunks(stream, tally.size)
        choices = chunk.choices
        if choices:
            choice = choices[0]
            delta = choice.delta
            content = getattr(delta, "content", None)
            if content or getattr(delta, "tool_calls", None) or getattr(delta, "reasoning_content", None):
                ex.first_token()
            if content:
                tally.add_text(content)
            if choice.finish_reason:
                if not provider_finished(stream):
                    break  # LiteLLM's made-up end of a stream the upstream cut short: not passed on
                finished = True
        tally.model = tally.model or getattr(chunk, "model", None)
        if getattr(chunk, "usage", None):
            tally.usage = usage_from_openai(chunk.usage, getattr(chunk, "service_tier", None))
            if not client_wants_usage:
                # we asked for usage on the client's behalf: drop the usage-only chunk it did not ask for
                if not choices or (not choices[0].finish_reason and _empty_delta(choices[0].delta)):
                    continue
                del chunk.usage
        yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
    if not finished:
        raise UpstreamFailed("the upstream stream ended before the answer was complete")
    tally.complete = True
    yield b"data: [DONE]\n\n"


class _ChatBytesReader:
    """Reads an OpenAI chat stream's events as they pass: text, usage, model, first token, its end."""

    __slots__ = ("client_wants_usage", "done", "ex", "finished", "tally")

    def __init__(self, ex: Exchange, tally: Tally, client_wants_usage: bool) -> None:
        self.ex, self.tally, self.client_wants_usage = ex, tally, client_wants_usage
        self.finished = self.done = False

    def passes(self, event: SseEvent) -> bool:
        """Whether the client gets `event` (all but a usage-only chunk it did not ask for)."""
        if event.data is None:
            return True  # a comment or an empty event: passed on as it came
        if event.data.strip() == b"[DONE]":
            self.done = True
            return True
        payload = loads(event.data, "stream event")
        if not isinstance(payload, dict):
            raise UpstreamFailed("the upstream sent a malformed stream event")
        if "error" in payload and not payload.get("choices"):
            raise UpstreamFailed(str((payload.get("error") or {}).get("message") or "stream error"))
        tally = self.tally
        tally.model = tally.model or payload.get("model")
        choices = payload.get("choices") or []
        if choices:
            delta = choices[0].get("delta") or {}
            content = delta.get("content")
            if content or delta.get("tool_calls") or delta.get("reasoning_content"):
                self.ex.first_token()
            if content:
                tally.add_text(content)
            if choices[0].get("finish_reason"):
                self.finished = True
        if payload.get("usage"):
            tally.usage = usage_from_openai(payload["usage"], payload.get("service_tier"))
            return self.client_wants_usage or bool(choices)
        return True


async def relay_chat_bytes(
    chunks: AsyncIterator[bytes], ex: Exchange, tally: Tally, client_wants_usage: bool
) -> AsyncIterator[bytes]:
    """An OpenAI chat stream's own SSE bytes (the fast path), passed on event by event, unchanged.

    The only event ever held back is the usage-only chunk the gateway asked for on the client's
    behalf when the client did not ask for usage itself.
    """
    reader = _ChatBytesReader(ex, tally, client_wants_usage)
    try:
        async for events in sse_events(chunks):
            # nothing after [DONE] is read: the client has its whole answer
            out = [event.raw for event in events if not reader.done and reader.passes(event)]
            tally.complete = reader.finished and reader.done
            if out:
                yield b"".join(out)
    finally:
        await aclose(chunks)
    if not (reader.finished and reader.done):
        raise UpstreamFailed("the upstream stream ended before the answer was complete")


async def replay_chat(response: dict[str, Any], include_usage: bool = False) -> AsyncIterator[bytes]:
    """`response` (a chat.completion dict) as chat.completion.chunk SSE ending with `data: [DONE]`,
    which the official SDKs accumulate back into the same message."""
    base: dict[str, Any] = {
        "id": response.get("id") or f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": response.get("created") or int(time.time()),
        "model": response.get("model") or "",
    }
    if response.get("system_fingerprint"):
        base["system_fingerprint"] = response["system_fingerprint"]

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_event({**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})

    for position, choice in enumerate(response.get("choices") or []):
        index = choice.get("index", position)
        message = choice.get("message") or {}
        yield chunk(index, {"role": "assistant", "content": ""})
        for key in ("reasoning_content", "content", "refusal"):
            value = message.get(key)
            if isinstance(value, str) and value:
                yield chunk(index, {key: value})
        for call_index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            arguments = function.get("arguments")
            head = {
                "index": call_index,
                "id": call.get("id"),
                "type": call.get("type") or "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
                },
            }
            yield chunk(index, {"tool_calls": [head]})
        yield chunk(index, {}, choice.get("finish_reason") or "stop")
    if include_usage and response.get("usage") is not None:
        yield data_event({**base, "choices": [], "usage": response["usage"]})
    yield b"data: [DONE]\n\n"


async def _call(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.acompletion(**kwargs)


CHAT = Endpoint(
    dialect=Dialect.OPENAI,
    path="/v1/chat/completions",
    validate=validate_chat_request,
    call=_call,
    relay=relay_chat,
    relay_bytes=relay_chat_bytes,
    plain=_plain,
    replay=replay_chat,
    # always ask for usage in the stream, so the databank gets tokens; the relays hide it if unasked
    stream_kwargs=lambda body: {"stream_options": {**(body.get("stream_options") or {}), "include_usage": True}},
)


@router.post("/v1/chat/completions")
@router.post("/chat/completions", include_in_schema=False)
async def chat_completions(request: Request) -> Response:
    return await generate(request, CHAT)
