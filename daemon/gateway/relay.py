"""Relaying upstream streams to the client chunk by chunk while watching them for the databank.

Each relay is an async generator of SSE bytes. It records time to first token, folds the usage
the stream reports, keeps the answer text when prompts are stored, and ends the exchange exactly
once: ok when the stream finished properly, error (with an error event in the client's dialect)
when it broke, client_disconnected when the client hung up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from daemon.cost import Usage, merge_anthropic_stream_usage, usage_from_openai
from daemon.dialects import Dialect, stream_error_event
from daemon.errors import UpstreamFailed
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import map_exception

Pricer = Callable[[Usage, str | None], float | None]


async def relay_openai(
    stream: Any, ex: Exchange, price: Pricer, client_wants_usage: bool, keep_text: bool
) -> AsyncIterator[bytes]:
    """LiteLLM's chat stream as OpenAI SSE (`data: {...}` ... `data: [DONE]`)."""
    usage = Usage()
    text: list[str] = []
    resolved: str | None = None
    finished = False
    try:
        async for chunk in stream:
            choices = chunk.choices
            if choices:
                choice = choices[0]
                delta = choice.delta
                content = getattr(delta, "content", None)
                if content or getattr(delta, "tool_calls", None) or getattr(delta, "reasoning_content", None):
                    ex.first_token()
                if content and keep_text:
                    text.append(content)
                if choice.finish_reason:
                    if not provider_finished(stream):
                        break  # LiteLLM's made-up end of a stream the upstream cut short: not passed on
                    finished = True
            chunk_usage = getattr(chunk, "usage", None)
            if chunk_usage:
                usage = usage_from_openai(chunk_usage)
                resolved = resolved or getattr(chunk, "model", None)
                if not client_wants_usage:
                    # we asked for usage on the client's behalf: drop the usage-only chunk it did not ask for
                    if not choices or (not choices[0].finish_reason and _empty_delta(choices[0].delta)):
                        continue
                    del chunk.usage
            resolved = resolved or getattr(chunk, "model", None)
            yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
        if not finished:
            raise UpstreamFailed("the upstream stream ended before the answer was complete")
        yield b"data: [DONE]\n\n"
        ex.record.resolved_model = ex.record.resolved_model or resolved
        ex.succeed(usage, price(usage, resolved), "".join(text) if keep_text else None)
    except (asyncio.CancelledError, GeneratorExit):
        ex.disconnected(usage, price(usage, resolved))
        raise
    except Exception as exc:
        err = map_exception(exc)
        ex.fail(err, usage, price(usage, resolved))
        yield stream_error_event(Dialect.OPENAI, ex.redacted(err))


def provider_finished(stream: Any) -> bool:
    """Whether the upstream itself ended the answer, rather than LiteLLM on its behalf.

    When a provider's stream stops without its final event (cut, truncated, or corrupted and then
    dropped), LiteLLM's CustomStreamWrapper still ends it with a chunk saying finish_reason="stop".
    It keeps every chunk it hands out in `chunks`, except that made-up one, so a real end is a
    finish_reason in that list. (The Router's wrapper shares the inner wrapper's list.)
    """
    chunks = getattr(stream, "chunks", None)
    if not isinstance(chunks, list):
        return True  # not a LiteLLM stream (a replayed answer): its finish_reason is its own
    return any(c.choices and c.choices[0].finish_reason for c in reversed(chunks))


def responses_provider_finished(stream: Any) -> bool:
    """`provider_finished` for a Responses stream LiteLLM built from a chat stream (Anthropic, ...).

    LiteLLM's bridge emits `response.completed` when its chat stream ends, however it ended. The
    Router's wrapper keeps the bridge it wraps as `_billing_source`; a native Responses stream has no
    chat stream inside, and its `response.completed` is the provider's own.
    """
    source = getattr(stream, "_billing_source", stream)
    chat_stream = getattr(source, "litellm_custom_stream_wrapper", None)
    return chat_stream is None or provider_finished(chat_stream)


_DELTA_FIELDS = ("content", "tool_calls", "reasoning_content", "function_call")


def _empty_delta(delta: Any) -> bool:
    return not any(getattr(delta, name, None) for name in _DELTA_FIELDS)


class AnthropicStreamWatcher:
    """Reads Anthropic SSE bytes as they pass, without changing them: usage, text, first token, end."""

    __slots__ = ("_buffer", "error", "ex", "keep_text", "malformed", "model", "stopped", "text", "usage")

    def __init__(self, ex: Exchange, keep_text: bool) -> None:
        self.ex = ex
        self.keep_text = keep_text
        self._buffer = b""
        self.usage = Usage()
        self.text: list[str] = []
        self.model: str | None = None
        self.stopped = False
        self.error: str | None = None
        self.malformed = False

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return
            event, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            self._event(event)

    def _event(self, raw: bytes) -> None:
        name = b""
        data = b""
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if not data.startswith(b"{") or not name:
            # every Anthropic event is named and carries a JSON object; anything else is a broken stream
            self.malformed = bool(data or name)
            return
        if name == b"content_block_delta":
            self.ex.first_token()
            if not self.keep_text:
                return
        elif name not in (b"message_start", b"message_delta", b"message_stop", b"error"):
            return
        if name == b"message_stop":
            self.stopped = True
            return
        try:
            payload = json.loads(data)
        except ValueError:
            self.malformed = True
            return
        if name == b"content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text.append(delta.get("text", ""))
        elif name == b"message_start":
            message = payload.get("message") or {}
            self.model = message.get("model")
            merge_anthropic_stream_usage(self.usage, message.get("usage") or {})
        elif name == b"message_delta":
            merge_anthropic_stream_usage(self.usage, payload.get("usage") or {})
        elif name == b"error":
            self.error = str((payload.get("error") or {}).get("message") or "the upstream stream failed")


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    # Some LiteLLM paths yield event dicts instead of encoded SSE
    kind = item.get("type", "message") if isinstance(item, dict) else "message"
    return f"event: {kind}\ndata: {json.dumps(item)}\n\n".encode()


async def relay_anthropic(stream: Any, ex: Exchange, price: Pricer, keep_text: bool) -> AsyncIterator[bytes]:
    """An Anthropic Messages stream (typed SSE events), passed on byte for byte."""
    watch = AnthropicStreamWatcher(ex, keep_text)
    try:
        async for item in stream:
            chunk = _as_bytes(item)
            watch.feed(chunk)
            if watch.malformed:
                raise UpstreamFailed("the upstream sent a malformed stream event")
            yield chunk
        if watch.error:
            # the upstream's own error event already reached the client; record it, add nothing
            ex.fail(UpstreamFailed(watch.error), watch.usage, price(watch.usage, watch.model))
            return
        if not watch.stopped:
            raise UpstreamFailed("the upstream stream ended before message_stop")
        ex.record.resolved_model = ex.record.resolved_model or watch.model
        ex.succeed(watch.usage, price(watch.usage, watch.model), "".join(watch.text) if keep_text else None)
    except (asyncio.CancelledError, GeneratorExit):
        ex.disconnected(watch.usage, price(watch.usage, watch.model))
        raise
    except Exception as exc:
        err = map_exception(exc)
        ex.fail(err, watch.usage, price(watch.usage, watch.model))
        yield stream_error_event(Dialect.ANTHROPIC, ex.redacted(err))


async def relay_openai_sse(
    chunks: AsyncIterator[bytes], ex: Exchange, price: Pricer, client_wants_usage: bool, keep_text: bool
) -> AsyncIterator[bytes]:
    """An OpenAI chat stream's own SSE bytes (the fast path), passed on event by event, unchanged.

    The only event ever held back is the usage-only chunk the gateway asked for on the client's
    behalf when the client did not ask for usage itself.
    """
    usage = Usage()
    text: list[str] = []
    model: str | None = None
    finished = done = False
    buffer = b""
    try:
        async for chunk in chunks:
            buffer += chunk
            out: list[bytes] = []
            while (end := buffer.find(b"\n\n")) >= 0:
                event, buffer = buffer[: end + 2], buffer[end + 2 :]
                data = event.strip()
                if not data.startswith(b"data:"):
                    out.append(event)
                    continue
                data = data[5:].strip()
                if data == b"[DONE]":
                    done = True
                    out.append(event)
                    continue
                try:
                    payload = json.loads(data)
                except ValueError:
                    raise UpstreamFailed("the upstream sent a malformed stream event") from None
                if "error" in payload and not payload.get("choices"):
                    raise UpstreamFailed(str((payload.get("error") or {}).get("message") or "stream error"))
                model = model or payload.get("model")
                choices = payload.get("choices") or []
                if choices:
                    delta = choices[0].get("delta") or {}
                    content = delta.get("content")
                    if content or delta.get("tool_calls") or delta.get("reasoning_content"):
                        ex.first_token()
                    if content and keep_text:
                        text.append(content)
                    if choices[0].get("finish_reason"):
                        finished = True
                if payload.get("usage"):
                    usage = usage_from_openai(payload["usage"])
                    if not client_wants_usage and not choices:
                        continue
                out.append(event)
            if out:
                yield b"".join(out)
        if not (finished and done):
            raise UpstreamFailed("the upstream stream ended before the answer was complete")
        ex.record.resolved_model = model or ex.record.resolved_model
        ex.succeed(usage, price(usage, model), "".join(text) if keep_text else None)
    except (asyncio.CancelledError, GeneratorExit):
        ex.disconnected(usage, price(usage, model))
        raise
    except Exception as exc:
        err = map_exception(exc)
        ex.fail(err, usage, price(usage, model))
        yield stream_error_event(Dialect.OPENAI, ex.redacted(err))
