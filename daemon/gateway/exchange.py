"""One request's life as the databank sees it: started, first token, finished one way or another.

The gateway begins an `Exchange` when a request arrives and ends it exactly once; ending it hands a
`UsageRecord` to the background writer (a queue put, never a disk write on the request path). The
exchange is the one writer of its record: everything else tells it what happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from daemon.config.settings import DEFAULT_MAX_STORED_BYTES
from daemon.cost import Usage
from daemon.errors import GatewayError
from daemon.gateway import stored
from daemon.gateway.llm import provider_model
from daemon.usage.record import UsageRecord

if TYPE_CHECKING:
    from daemon.identity import Identity

log = logging.getLogger("memproxy.requests")

_TEXT_COLUMNS = (
    "model",
    "resolved_model",
    "error",
    "request_json",
    "response_text",
    "client",
    "user_agent",
    "service_tier",
)
# the bodies: cut to `logging.max_stored_bytes` (daemon.gateway.stored)
_BODY_COLUMNS = frozenset({"request_json", "response_text"})


class RecordSink(Protocol):
    def submit(self, record: UsageRecord) -> None: ...


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced, so no key reaches a log line or the databank."""
    for secret in secrets:
        if secret and len(secret) >= 6 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class Exchange:
    """Tracks one request from arrival to its databank row."""

    __slots__ = ("_sink", "_sizes", "_t0", "after_success", "done", "identity", "max_stored", "record", "secrets")

    def __init__(
        self,
        record: UsageRecord,
        sink: RecordSink,
        secrets: Iterable[str] = (),
        identity: Identity | None = None,
        max_stored: int = DEFAULT_MAX_STORED_BYTES,
    ) -> None:
        self.record = record
        self.max_stored = max_stored
        # the whole size in bytes of a body column holding only its window
        self._sizes: dict[str, int] = {}
        self.identity = identity
        self._sink = sink
        self._t0 = time.perf_counter()
        self.secrets = secrets
        self.done = False
        # called with the answer text once the exchange succeeded (memory capture)
        self.after_success: Callable[[str], None] | None = None

    @property
    def wants_text(self) -> bool:
        """Whether relays should keep the answer text (for the databank or for memory capture)."""
        return self.record.request_json is not None or self.after_success is not None

    @property
    def keep_chars(self) -> int:
        """How much of an answer's text a relay keeps (what the databank and memory capture can use)."""
        return stored.keep_chars(self.max_stored)

    def requested(self, model: str, *, stream: bool = False, body: bytes | None = None) -> None:
        """What the client asked for: the model, whether streamed, the body when prompts are stored
        (only the part `logging.max_stored_bytes` can keep is decoded)."""
        r = self.record
        r.model, r.stream = model, stream
        if body is not None and self.max_stored > 0:
            r.request_json = stored.decoded(body, self.max_stored)
            self._sizes["request_json"] = len(body)

    def routed(self, provider: str | None, resolved_model: str | None) -> None:
        """Which provider and concrete model the deployment sends the request to."""
        self.record.provider, self.record.resolved_model = provider, resolved_model

    def resolved(self, model: str | None) -> None:
        """The model the upstream says answered, as the provider names it (kept as routed when it says none)."""
        bare = provider_model(model, self.record.provider)
        if bare:
            self.record.resolved_model = bare

    def recalled(self, hits: int, ids: Iterable[str] = ()) -> None:
        self.record.memory_hits = hits
        self.record.memory_ids = ",".join(ids) or None

    def tool_rounds(self, rounds: int) -> None:
        self.record.tool_rounds = rounds

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self._t0) * 1000.0, 3)

    def mark_in_flight(self) -> None:
        """Write a provisional row so a daemon killed mid-request leaves a trace (`interrupted` at next start)."""
        self.record.status = "in_flight"
        self._sink.submit(self._sealed(_copy(self.record)))

    def first_token(self) -> None:
        if self.record.ttft_ms is None:
            self.record.ttft_ms = self.elapsed_ms()

    def succeed(
        self, usage: Usage, response_text: str | None = None, http_status: int = 200, size: int | None = None
    ) -> None:
        """Ended well; `response_text` may be the first part of an answer of `size` bytes (a relay's)."""
        r = self.record
        self.noted_usage(usage)
        if response_text is not None and r.request_json is not None:
            r.response_text = response_text
            if size is not None:
                self._sizes["response_text"] = size
        first = not self.done
        self._finish("ok", http_status)
        if first and response_text and self.after_success is not None:
            self.after_success(response_text)

    def fail(self, err: GatewayError, usage: Usage | None = None) -> None:
        self.record.error = redact(err.message, self.secrets)[:4000]
        if usage is not None:
            self.noted_usage(usage)
        self._finish("error", err.status)

    def noted_usage(self, usage: Usage) -> None:
        """The tokens as the provider reported them; the writer thread prices them (daemon.usage.pricing)."""
        r = self.record
        r.input_tokens, r.output_tokens = usage.input_tokens, usage.output_tokens
        r.cache_read_tokens, r.cache_write_tokens = usage.cache_read_tokens, usage.cache_write_tokens
        r.cache_write_1h_tokens, r.reasoning_tokens = usage.cache_write_1h_tokens, usage.reasoning_tokens
        r.service_tier = usage.service_tier

    def disconnected(self, usage: Usage | None = None) -> None:
        if usage is not None:
            self.noted_usage(usage)
        self._finish("client_disconnected", 499)

    def _finish(self, status: str, http_status: int) -> None:
        if self.done:
            return
        self.done = True
        r = self.record
        r.status = status
        r.http_status = http_status
        r.latency_ms = self.elapsed_ms()
        self._sink.submit(self._sealed(r))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s project=%s client=%s model=%s -> %s %s in %.1f ms, tokens in/out %d/%d%s",
                r.endpoint,
                r.project,
                r.client,
                r.model,
                r.status,
                r.http_status,
                r.latency_ms,
                r.input_tokens,
                r.output_tokens,
                f": {r.error}" if r.error else "",
            )

    def _sealed(self, r: UsageRecord) -> UsageRecord:
        """`r` as it may be stored: a key pasted into a prompt, echoed by a provider or used as a model
        name redacted, and each body within `logging.max_stored_bytes` (redacted before the cut)."""
        for name in _TEXT_COLUMNS:
            value = getattr(r, name)
            if not value:
                continue
            if name in _BODY_COLUMNS:
                if self.max_stored <= 0:
                    setattr(r, name, None)
                    continue
                size = self._sizes.get(name) or stored.utf8_len(value)
                value = stored.clip(redact(stored.window(value, self.max_stored), self.secrets), self.max_stored, size)
                setattr(r, name, value)
            else:
                setattr(r, name, redact(value, self.secrets))
        return r


def _copy(record: UsageRecord) -> UsageRecord:
    from dataclasses import replace

    return replace(record)
