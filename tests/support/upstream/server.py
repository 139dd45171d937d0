"""The fake provider's HTTP server: `FakeUpstream`, uvicorn in a daemon thread (or the foreground)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

import uvicorn

from tests.support.upstream import gemini
from tests.support.upstream.caching import PromptCache
from tests.support.upstream.recording import Recorded
from tests.support.upstream.rendering import (
    GARBAGE,
    Dialect,
    Event,
    Plan,
    answer,
    dumps,
    embeddings,
    error_body,
    input_words,
    models,
    new_id,
    plan,
    stream_events,
)
from tests.support.upstream.replies import Reply
from tests.support.upstream.sampling import refusal

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Disconnect(Exception):
    """Raised inside the app to make uvicorn drop the connection mid-response, on purpose."""


class _QuietDeliberate(logging.Filter):
    """Keep uvicorn from printing tracebacks for connections we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, Disconnect | asyncio.CancelledError)


_GENERATING = frozenset({"/chat/completions", "/messages", "/responses"})
_COUNTING = frozenset({"/messages/count_tokens", "/responses/input_tokens"})


class FakeUpstream:
    """An OpenAI + Anthropic impersonator on 127.0.0.1, run by uvicorn in a daemon thread.

    ``latency_ms`` delays every generation and embedding; ``chunks`` fixes the number of content
    chunks in a stream (default: one a word); ``chunk_interval_ms`` spaces them; ``require_key``
    turns on a 401 for any other key; ``default`` answers when nothing is scripted; ``record=False``
    keeps long benchmark runs from growing ``requests``; ``line_end`` ends each SSE line (the SSE
    spec allows ``\n``, ``\r\n`` and ``\r``).
    """

    line_end = b"\n"

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: float = 0,
        chunks: int | None = None,
        chunk_interval_ms: float = 0,
        require_key: str | None = None,
        default: Reply | None = None,
        record: bool = True,
    ) -> None:
        # Plain attributes, read on every request, so a test or benchmark may change them live.
        self.latency_ms = latency_ms
        self.chunks = chunks
        self.chunk_interval_ms = chunk_interval_ms
        self.require_key = require_key
        self.default = default or Reply()
        self.record = record
        # a `PromptCache` bills unscripted usage as the provider's prompt cache would (None: off)
        self.prompt_cache: PromptCache | None = None
        self.requests: list[Recorded] = []
        self._port = port
        self._script: deque[Reply] = deque()
        # errors for the routes that generate nothing (a provider fails those too)
        self._failures: dict[str, deque[Reply]] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[Any]] = set()

    # -- public API --

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; the port is known once ``start()`` has bound it."""
        if not self._port:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://127.0.0.1:{self._port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next generating requests, first in first out."""
        self._script.extend(replies)

    def fail(self, route: str, *replies: Reply) -> None:
        """Queue error replies for the next requests to ``route`` (``/embeddings`` or
        ``/messages/count_tokens``), which otherwise always succeed."""
        self._failures.setdefault(route, deque()).extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._script)

    def last(self, path: str | None = None) -> Recorded:
        """The most recent request (for ``path`` if given); AssertionError when there is none."""
        for rec in reversed(self.requests[:]):
            if path is None or rec.path == path:
                return rec
        raise AssertionError(f"no request recorded for {path or 'any path'}")

    def clear(self) -> None:
        """Forget the recorded requests."""
        self.requests.clear()

    def reset(self) -> None:
        """Forget recorded requests and any scripted replies not used yet."""
        self.requests.clear()
        self._script.clear()
        self._failures.clear()

    def fresh(self) -> None:
        """`reset()`, and the knobs a test may have turned (chunks, latency, key, default, line ends) back."""
        self.reset()
        self.latency_ms = self.chunk_interval_ms = 0
        self.chunks = self.require_key = None
        self.default = Reply()
        self.prompt_cache = None
        self.line_end = type(self).line_end

    def start(self) -> Self:
        """Bind a port and serve in a background thread; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        sock = self._bind()
        server = self._server = uvicorn.Server(self._config())
        self._thread = threading.Thread(target=self._run, args=(sock,), name="fake-upstream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; requests still in flight (a long stall, say) are cancelled."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        server.should_exit = True
        server.force_exit = True  # do not wait for stalled requests to finish
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may close between check and call
                loop.call_soon_threadsafe(self._cancel_inflight)
        thread.join(timeout=10)
        self._server = self._thread = self._loop = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM (for ``python -m``)."""
        sock = self._bind()
        print(f"fake upstream listening on {self.url}", flush=True)
        self._server = uvicorn.Server(self._config())
        self._run(sock)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- plumbing --

    def _bind(self) -> socket.socket:
        # Bind-and-hold: we own the socket, so the port is ours before uvicorn starts.
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
        # socket says so; with proto 0 every keep-alive response waits ~40 ms on Nagle + delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        sock.listen(1024)
        self._port = sock.getsockname()[1]
        return sock

    def _config(self) -> uvicorn.Config:
        logger = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietDeliberate) for f in logger.filters):
            logger.addFilter(_QuietDeliberate())
        return uvicorn.Config(
            self._asgi,
            loop="asyncio",
            http="httptools",
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            log_config=None,  # leave the host process's logging configuration alone
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
            # providers keep idle connections for minutes; a short server-side expiry races clients'
            # pools into "connection reset" on reuse, a failure real providers don't cause
            timeout_keep_alive=120,
        )

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            assert self._server is not None
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    def _cancel_inflight(self) -> None:
        for task in list(self._inflight):
            task.cancel()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._handle(scope, receive, send)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _receive(self, scope: Scope, receive: Receive) -> Recorded | None:
        """The whole request (recorded unless `record` is off); None when the client hung up first."""
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        query = scope.get("query_string", b"").decode("latin-1")
        request = Recorded(scope["method"], scope["path"], headers, body, bytes(raw), query)
        if self.record:
            self.requests.append(request)
        return request

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await self._receive(scope, receive)
        if request is None:
            return
        method, path, headers, body = request.method, request.path, request.headers, request.body
        if path.startswith("/v1beta/"):  # Google's Gemini API
            return await gemini.serve(self, request, send)

        route = path.rstrip("/").removeprefix("/v1")
        dialect: Dialect = "anthropic" if route.startswith("/messages") else "openai"
        known = route in _GENERATING or route in _COUNTING or route in {"/embeddings", "/models"}
        if not known or method != ("GET" if route == "/models" else "POST"):
            err = {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error"}
            return await send_json(send, 404, dumps({"error": {**err, "param": None, "code": None}}), dialect)
        if not self._authorized(headers):
            message_401 = "invalid x-api-key" if dialect == "anthropic" else "Incorrect API key provided."
            return await send_json(send, 401, error_body(dialect, 401, message_401), dialect)
        if route == "/models":
            return await send_json(send, 200, dumps(models("anthropic-version" in headers)), dialect)
        if not isinstance(body, dict):
            return await send_json(send, 400, error_body(dialect, 400, "Request body must be JSON"), dialect)
        failures = self._failures.get(route)
        if failures:
            failure = failures.popleft()
            payload = error_body(dialect, failure.status, failure.error_message, failure.error_type)
            return await send_json(send, failure.status, payload, dialect, failure.headers)
        refused = refusal(body) if route == "/messages" else None
        if refused:
            return await send_json(send, 400, error_body(dialect, 400, refused, "invalid_request_error"), dialect)
        if route == "/messages/count_tokens":
            return await send_json(send, 200, dumps({"input_tokens": input_words(body)}), dialect)
        if route == "/responses/input_tokens":  # OpenAI's counter, which LiteLLM asks for OpenAI models
            counted = {"object": "response.input_tokens", "input_tokens": input_words(body)}
            return await send_json(send, 200, dumps(counted), dialect)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if route == "/embeddings":
            return await send_json(send, 200, dumps(embeddings(body)), dialect)

        try:
            reply = self._script.popleft()
        except IndexError:  # nothing scripted (a test thread may reset() at any moment)
            reply = self.default
        if reply.stall_seconds:
            await asyncio.sleep(reply.stall_seconds)
        if reply.raw_body is not None:
            await start_response(send, reply.status, reply.content_type, dialect, reply.headers, len(reply.raw_body))
            return await send({"type": "http.response.body", "body": reply.raw_body})
        if reply.status >= 400:
            payload = error_body(dialect, reply.status, reply.error_message, reply.error_type)
            return await send_json(send, reply.status, payload, dialect, reply.headers)
        if self.prompt_cache is not None and reply.usage is None:
            reply = replace(reply, usage=self.prompt_cache.usage(route, body))
        planned = plan(reply, body, self.chunks)
        if planned.stream:
            # the renderers end lines with "\n"; JSON never holds a raw newline, so that is every line end
            events = [(kind, data.replace(b"\n", self.line_end)) for kind, data in stream_events(route, planned)]
            return await self._send_stream(send, events, planned, dialect)
        payload = answer(route, planned)
        if reply.fault == "corrupt":
            payload = GARBAGE
        elif reply.fault is not None:  # non-stream: send half the body, then stall or drop
            await start_response(send, 200, "application/json", dialect, reply.headers, len(payload))
            half = len(payload) // 2
            await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
            if reply.fault == "cut":
                raise Disconnect
            await asyncio.sleep(reply.fault_seconds)
            return await send({"type": "http.response.body", "body": payload[half:]})
        await send_json(send, 200, payload, dialect, reply.headers)

    def _authorized(self, headers: dict[str, str]) -> bool:
        key = self.require_key
        if key is None:
            return True
        return key in (headers.get("x-api-key"), headers.get("api-key")) or headers.get("authorization") == (
            f"Bearer {key}"
        )

    async def _send_stream(self, send: Send, events: list[Event], planned: Plan, dialect: Dialect) -> None:
        reply = planned.reply
        await start_response(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
        fault, sent, gap = reply.fault, 0, self.chunk_interval_ms / 1000
        for kind, data in events:
            if fault is not None and (kind == "tail" or (kind == "content" and sent == reply.fault_after)):
                if fault == "cut":
                    raise Disconnect
                if fault in ("corrupt", "malformed"):
                    prefix = b"event: content_block_delta\n" if dialect == "anthropic" else b""
                    garbage = prefix + b"data: " + GARBAGE + b"\n\n"
                    await send({"type": "http.response.body", "body": garbage, "more_body": fault == "malformed"})
                    if fault == "corrupt":
                        raise Disconnect
                    fault, sent = None, sent + 1
                    continue  # the content event it stands for is never sent
                await asyncio.sleep(reply.fault_seconds)
                fault = None
            if kind == "content":
                if sent and gap:
                    await asyncio.sleep(gap)
                sent += 1
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def start_response(
    send: Send,
    status: int,
    content_type: str,
    dialect: Dialect,
    extra: Mapping[str, str] | None = None,
    length: int | None = None,
) -> None:
    request_id = "request-id" if dialect == "anthropic" else "x-request-id"
    headers = [(b"content-type", content_type.encode()), (request_id.encode(), new_id("req_").encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_json(
    send: Send, status: int, payload: bytes, dialect: Dialect, extra: Mapping[str, str] | None = None
) -> None:
    await start_response(send, status, "application/json", dialect, extra, len(payload))
    await send({"type": "http.response.body", "body": payload})
