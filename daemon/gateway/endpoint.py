"""The seam between the pipeline and the routes: what differs from one generating endpoint to the next.

An `Endpoint` says how to validate a body, which Router method to call, how to relay the stream it
returns (and, for the fast path, the provider's own SSE bytes), how to read a plain answer and how to
replay a finished answer as a stream. Each route module builds one; `daemon.gateway.pipeline` runs
it and never imports a route.

A relay reads a stream as it passes, notes what it learns in a `Tally`, and returns only when the
stream ended properly; anything else is an exception, which `daemon.gateway.edge` turns into the
client's error event and the exchange's end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daemon.config.settings import DEFAULT_MAX_STORED_BYTES
from daemon.cost import Usage
from daemon.dialects import Dialect, stream_error_event
from daemon.errors import GatewayError
from daemon.gateway.stored import keep_chars, utf8_len

if TYPE_CHECKING:
    from litellm import Router
    from starlette.requests import Request

    from daemon.gateway.exchange import Exchange


@dataclass(frozen=True)
class Plain:
    """A finished, non-streamed answer as the client gets it and as the databank records it."""

    body: dict[str, Any] | bytes
    usage: Usage
    text: str | None
    model: str | None


@dataclass
class Tally:
    """What a relay has seen of a stream so far: the usage, the model that answered, the answer text."""

    keep_text: bool
    # at most this many characters of the answer are kept (`stored.keep_chars`): a huge answer is
    # relayed, never held
    limit: int = keep_chars(DEFAULT_MAX_STORED_BYTES)
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    pieces: list[str] = field(default_factory=list)
    kept: int = 0
    # the answer's whole size in UTF-8 bytes, kept or not
    size: int = 0
    # an error the upstream already reported in the stream itself (passed on as it came)
    reported: GatewayError | None = None
    # the relay has handed on the stream's terminal event ([DONE], message_stop, response.completed):
    # the client has the whole answer, so the exchange is ok whatever the client does next
    complete: bool = False

    def add_text(self, text: str) -> None:
        if not text:
            return
        self.size += utf8_len(text)
        if self.keep_text:
            room = self.limit - self.kept
            if room > 0:
                piece = text if len(text) <= room else text[:room]
                self.pieces.append(piece)
                self.kept += len(piece)

    def answer(self) -> str | None:
        return "".join(self.pieces) if self.keep_text else None


# (upstream stream, exchange, tally, whether the client asked for usage) -> SSE bytes for the client
Relay = Callable[[Any, "Exchange", Tally, bool], AsyncIterator[bytes]]


def _no_extra(_: Any) -> dict[str, Any]:
    return {}


def _as_sent(_: Request, body: dict[str, Any]) -> dict[str, Any]:
    return body


def _unchanged(body: dict[str, Any]) -> dict[str, Any]:
    return body


@dataclass(frozen=True)
class Endpoint:
    """One generating endpoint, as the pipeline sees it."""

    dialect: Dialect
    path: str
    validate: Callable[[dict[str, Any]], str]
    call: Callable[[Router, dict[str, Any]], Awaitable[Any]]
    relay: Relay
    plain: Callable[[Any], Plain]
    # a finished answer replayed as this endpoint's stream (the memory tool loop); None: no tool loop
    replay: Callable[[dict[str, Any], bool], AsyncIterator[bytes]] | None = None
    # the provider's own SSE bytes relayed as they are (the fast path); None: always through LiteLLM
    relay_bytes: Relay | None = None
    # extra Router kwargs taken from request headers (e.g. `anthropic-beta`)
    headers: Callable[[Request], dict[str, Any]] = _no_extra
    # what a streamed call needs on top of the client's body (OpenAI: usage in the stream)
    stream_kwargs: Callable[[dict[str, Any]], dict[str, Any]] = _no_extra
    # the SSE event that tells a streaming client its stream failed
    error_event: Callable[[GatewayError], bytes] | None = None
    # the body as the pipeline handles it (`model`, `stream`): Gemini names both in the URL instead
    framed: Callable[[Request, dict[str, Any]], dict[str, Any]] = _as_sent
    # the body as the fast path sends it to the provider (the same object when nothing changes)
    for_provider: Callable[[dict[str, Any]], dict[str, Any]] = _unchanged

    def stream_error(self, err: GatewayError) -> bytes:
        if self.error_event is not None:
            return self.error_event(err)
        return stream_error_event(self.dialect, err)


def wants_usage(body: dict[str, Any]) -> bool:
    """Whether an OpenAI-style body asked for usage in its stream."""
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))
