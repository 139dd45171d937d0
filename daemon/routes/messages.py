"""`POST /v1/messages`: Anthropic Messages (Claude Code's), through the Router's Anthropic interface.

For Anthropic deployments LiteLLM passes the body through (thinking, cache_control and tool blocks
intact); for other providers it translates. Here: the body's shape, the relay that reads Anthropic's
typed events as they pass (LiteLLM's stream and the fast path's bytes alike), reading a plain
answer, and replaying a finished answer as Anthropic's stream. LiteLLM does not price this path, so
the pipeline prices it from the usage read here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import merge_anthropic_stream_usage, usage_from_anthropic
from daemon.dialects import Dialect
from daemon.errors import InvalidRequest, UpstreamFailed
from daemon.gateway.endpoint import Endpoint, Plain, Tally
from daemon.gateway.exchange import Exchange
from daemon.gateway.passthrough import header_value
from daemon.gateway.pipeline import generate
from daemon.gateway.responses_feed import feed_bounded
from daemon.gateway.sse import SseEvent, SseSplitter, aclose, named_event
from daemon.gateway.streams import DeltaText
from daemon.gateway.validation import check_tools, check_types, refuse_redirect_fields, require_messages, require_model

router = APIRouter()

# Request headers passed on to an Anthropic upstream: they select API features, never credentials.
FORWARDED_HEADERS = ("anthropic-beta",)

TYPES: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "tools": (list,),
    "max_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "top_k": (int,),
    "system": (str, list),
    "thinking": (dict,),
    "metadata": (dict,),
    "stop_sequences": (list,),
    "tool_choice": (dict,),
}
_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


def validate_messages_request(body: Mapping[str, Any]) -> str:
    """Check an Anthropic Messages body; return the requested model."""
    model = require_model(body)
    require_messages(body)
    check_types(body, TYPES)
    check_tools(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("field 'max_tokens' is required")
    if max_tokens < 1:
        raise InvalidRequest("field 'max_tokens' must be at least 1")
    refuse_redirect_fields(body)
    return model


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


class AnthropicStreamWatcher:
    """Reads Anthropic SSE bytes as they pass, without changing them: usage, text, first token, end."""

    __slots__ = ("_splitter", "error", "ex", "malformed", "stopped", "tally")

    def __init__(self, ex: Exchange, tally: Tally) -> None:
        self.ex = ex
        self.tally = tally
        self._splitter = SseSplitter()
        self.stopped = False
        self.error: str | None = None
        self.malformed = False

    def feed(self, chunk: bytes) -> None:
        for event in self._splitter.feed(chunk):
            self._event(event)

    def end(self) -> None:
        """The stream is over: read what a last lone `\r` completes."""
        for event in self._splitter.end():
            self._event(event)

    def _event(self, event: SseEvent) -> None:
        if self.stopped:
            return  # nothing after message_stop is read: the client has its whole answer
        name = event.name.strip()
        data = (event.data or b"").strip()
        if not data.startswith(b"{") or not name:
            # every Anthropic event is named and carries a JSON object; anything else is a broken stream
            self.malformed = bool(data or name)
            return
        if name == b"content_block_delta":
            self.ex.first_token()
            if not self.tally.keep_text:
                return
        elif name not in (b"message_start", b"message_delta", b"message_stop", b"error"):
            return
        if name == b"message_stop":
            self.stopped = True
            return
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
            self.malformed = True
            return
        tally = self.tally
        if name == b"content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                tally.add_text(delta.get("text", ""))
        elif name == b"message_start":
            message = payload.get("message") or {}
            tally.model = message.get("model")
            merge_anthropic_stream_usage(tally.usage, message.get("usage") or {})
        elif name == b"message_delta":
            merge_anthropic_stream_usage(tally.usage, payload.get("usage") or {})
        elif name == b"error":
            self.error = str((payload.get("error") or {}).get("message") or "the upstream stream failed")


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    # Some LiteLLM paths yield event dicts instead of encoded SSE
    kind = item.get("type", "message") if isinstance(item, dict) else "message"
    return named_event(kind, item)


async def relay_messages(stream: Any, ex: Exchange, tally: Tally, _client_wants_usage: bool) -> AsyncIterator[bytes]:
    """An Anthropic Messages stream (typed SSE events), passed on byte for byte."""
    watch = AnthropicStreamWatcher(ex, tally)
    deltas = DeltaText()
    # translated from the Responses API: its closing texts cut before LiteLLM reads them, every event checked
    feed = feed_bounded(stream)
    try:
        async for item in stream:
            chunk = _as_bytes(item)
            watch.feed(chunk)
            if watch.malformed:
                raise UpstreamFailed("the upstream sent a malformed stream event")
            deltas.trim(stream)
            if feed is not None and feed.lost:
                raise UpstreamFailed(feed.lost)  # LiteLLM skipped an event it could not parse, and read on
            if watch.stopped and feed is None and deltas.lost(stream):
                raise UpstreamFailed("the upstream stream lost an event it could not parse (text is missing)")
            tally.complete = watch.stopped and not watch.error
            yield chunk
    finally:
        await aclose(stream)
    watch.end()
    if watch.malformed:
        raise UpstreamFailed("the upstream sent a malformed stream event")
    if watch.error:
        tally.reported = UpstreamFailed(watch.error)
    elif not watch.stopped:
        raise UpstreamFailed("the upstream stream ended before message_stop")


async def replay_messages(message: dict[str, Any], _include_usage: bool = False) -> AsyncIterator[bytes]:
    """`message` (an Anthropic message dict) as Anthropic's typed stream events, which the official
    SDKs accumulate back into the same message."""
    usage = dict(message.get("usage") or {})
    start: dict[str, Any] = {
        "id": message.get("id") or f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": message.get("model") or "",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    yield _event("message_start", message=start)
    for index, block in enumerate(message.get("content") or []):
        for event in _block_events(index, block):
            yield event
    # message_delta usage is cumulative: it carries the final output count and repeats the input side
    yield _event(
        "message_delta",
        delta={"stop_reason": message.get("stop_reason") or "end_turn", "stop_sequence": message.get("stop_sequence")},
        usage=usage or {"output_tokens": 0},
    )
    yield _event("message_stop")


def _event(name: str, **fields: Any) -> bytes:
    return named_event(name, {"type": name, **fields})


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    kind = block.get("type")
    events: list[bytes] = []

    def delta(**fields: Any) -> None:
        events.append(_event("content_block_delta", index=index, delta=fields))

    if kind == "text":
        events.append(_event("content_block_start", index=index, content_block={"type": "text", "text": ""}))
        if block.get("text"):
            delta(type="text_delta", text=block["text"])
    elif kind == "thinking":
        empty = {"type": "thinking", "thinking": "", "signature": ""}
        events.append(_event("content_block_start", index=index, content_block=empty))
        if block.get("thinking"):
            delta(type="thinking_delta", thinking=block["thinking"])
        if block.get("signature"):
            delta(type="signature_delta", signature=block["signature"])
    elif kind in _INPUT_BLOCKS:
        head = {**block, "input": {}}
        events.append(_event("content_block_start", index=index, content_block=head))
        delta(type="input_json_delta", partial_json=json.dumps(block.get("input") or {}, ensure_ascii=False))
    else:  # redacted_thinking, server tool results, ...: whole in the start event, as the API sends them
        events.append(_event("content_block_start", index=index, content_block=block))
    events.append(_event("content_block_stop", index=index))
    return events


async def _call(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.aanthropic_messages(**kwargs)


def _headers(request: Request) -> dict[str, Any]:
    extra = {h: header_value(h, request.headers[h]) for h in FORWARDED_HEADERS if h in request.headers}
    return {"extra_headers": extra} if extra else {}


MESSAGES = Endpoint(
    dialect=Dialect.ANTHROPIC,
    path="/v1/messages",
    validate=validate_messages_request,
    call=_call,
    relay=relay_messages,
    relay_bytes=relay_messages,
    plain=_plain,
    replay=replay_messages,
    headers=_headers,
)


@router.post("/v1/messages")
@router.post("/messages", include_in_schema=False)
async def messages(request: Request) -> Response:
    return await generate(request, MESSAGES)
