"""The fake provider's Gemini API: `POST /v1beta/models/{model}:generateContent` and
`:streamGenerateContent` (SSE, as with `?alt=sse`), as Google's API answers them.

Bodies are `GenerateContentResponse` objects (`candidates`, `usageMetadata`, `modelVersion`,
`responseId`); a stream is one such object per `data:` event, lines ended with `\\r\\n` as Google's
servers end them, every chunk carrying the usage so far and the last one the `finishReason`. Usage:
`promptTokenCount` includes `cachedContentTokenCount` (the reply's `cache_read_tokens`). The key is
`x-goog-api-key` or `?key=`. Errors are Google's `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tests.support.upstream.recording import Recorded
from tests.support.upstream.rendering import Event, Plan, dumps, new_id, plan
from tests.support.upstream.replies import Reply

if TYPE_CHECKING:
    from tests.support.upstream.server import FakeUpstream, Send

_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_STATUS |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(status: int, message: str | None = None) -> bytes:
    """Google's error object for `status`."""
    text = message or f"Fake upstream: HTTP {status}"
    return dumps({"error": {"code": status, "message": text, "status": _STATUS.get(status, "UNKNOWN")}})


def _usage(p: Plan, final: bool) -> dict[str, Any]:
    u = p.usage
    prompt = u.input + u.cache_read
    usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    if u.cache_read:
        usage["cachedContentTokenCount"] = u.cache_read
    if final:
        # Google counts thoughts apart from the candidates (both billed as output)
        usage |= {"candidatesTokenCount": u.output - u.reasoning, "totalTokenCount": prompt + u.output}
        if u.reasoning:
            usage["thoughtsTokenCount"] = u.reasoning
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return usage


def _parts(p: Plan, text: str | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    return parts + [{"functionCall": {"name": c.name, "args": c.arguments}} for c in p.reply.tool_calls]


def _response(p: Plan, rid: str, parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": _usage(p, final), "modelVersion": p.model, "responseId": rid}


def answer(p: Plan) -> bytes:
    """A generateContent answer."""
    return dumps(_response(p, new_id(""), _parts(p, p.text), final=True))


def stream_events(p: Plan) -> list[Event]:
    """A streamGenerateContent answer: a chunk per text piece, the last one (the "tail", which a cut
    stream never sends) finished, with any tool calls."""
    rid, pieces = new_id(""), p.pieces or [""]
    events: list[Event] = []
    for index, piece in enumerate(pieces):
        final = index == len(pieces) - 1
        parts = _parts(p, piece) if final else [{"text": piece}]
        data = b"data: " + dumps(_response(p, rid, parts, final)) + b"\r\n\r\n"
        events.append(("tail" if final else "content", data))
    return events


def _key(request: Recorded) -> str | None:
    return request.headers.get("x-goog-api-key") or next(iter(parse_qs(request.query).get("key", [])), None)


async def serve(server: FakeUpstream, request: Recorded, send: Send) -> None:
    """Answer one Gemini API request for `server` (its script, default, knobs and faults)."""
    from tests.support.upstream.server import send_json

    match = _PATH.match(request.path)
    if match is None or request.method != "POST":
        return await send_json(send, 404, error_body(404, f"Invalid URL ({request.method} {request.path})"), "openai")
    if server.require_key is not None and _key(request) != server.require_key:
        return await send_json(send, 400, error_body(400, "API key not valid. Please pass a valid API key."), "openai")
    if not isinstance(request.body, dict):
        return await send_json(send, 400, error_body(400, "Invalid JSON payload received."), "openai")
    if server.latency_ms:
        await asyncio.sleep(server.latency_ms / 1000)
    try:
        reply: Reply = server._script.popleft()
    except IndexError:
        reply = server.default
    if reply.stall_seconds:
        await asyncio.sleep(reply.stall_seconds)
    if reply.status >= 400:
        payload = error_body(reply.status, reply.error_message)
        return await send_json(send, reply.status, payload, "openai", reply.headers)
    # what the shared planner reads: the URL's model and action, the contents counted as messages
    body = request.body
    shaped = {"model": match["model"], "stream": match["action"] == "streamGenerateContent"}
    shaped |= {"messages": body.get("contents"), "system": body.get("systemInstruction")}
    planned = plan(reply, shaped, server.chunks)
    if planned.stream:
        return await server._send_stream(send, stream_events(planned), planned, "openai")
    await send_json(send, 200, answer(planned), "openai", reply.headers)
