"""The HTTP dialects the gateway speaks, and how each one writes an error.

OpenAI routes answer `{"error": {"message", "type", "code"}}`; Anthropic routes answer
`{"type": "error", "error": {"type", "message"}}`; Gemini routes (`/v1beta/...`) answer Google's
`{"error": {"code", "message", "status"}}`. A dialect-neutral `GatewayError.kind` maps to each
dialect's own vocabulary here, in one table (Google's status names in one more).
"""

from __future__ import annotations

import json
from enum import StrEnum

from starlette.responses import Response

from daemon.errors import GatewayError


class Dialect(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


# kind -> (OpenAI error type, OpenAI error code, Anthropic error type)
_KINDS: dict[str, tuple[str, str | None, str]] = {
    "invalid_request": ("invalid_request_error", None, "invalid_request_error"),
    "authentication": ("authentication_error", "invalid_api_key", "authentication_error"),
    # LiteLLM's proxy calls it budget_exceeded; Anthropic's own 402 is a billing_error
    "budget": ("budget_exceeded", "budget_exceeded", "billing_error"),
    "permission": ("permission_error", None, "permission_error"),
    "not_found": ("invalid_request_error", "model_not_found", "not_found_error"),
    "payload_too_large": ("invalid_request_error", "request_too_large", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded", "rate_limit_error"),
    "upstream": ("api_error", "upstream_error", "api_error"),
    "unavailable": ("api_error", "service_unavailable", "overloaded_error"),
    "timeout": ("timeout_error", "timeout", "timeout_error"),
    "internal": ("api_error", None, "api_error"),
}


# kind -> Google's canonical status name (google.rpc.Code), as the Gemini API reports it
_GOOGLE_STATUS: dict[str, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "budget": "RESOURCE_EXHAUSTED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "payload_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "upstream": "UNAVAILABLE",
    "unavailable": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
    "internal": "INTERNAL",
}


def dialect_for_path(path: str) -> Dialect:
    """Anthropic for `/v1/messages...`, Gemini for `/v1beta/...`, OpenAI for everything else."""
    if path.startswith(("/v1/messages", "/messages")):
        return Dialect.ANTHROPIC
    if path.startswith("/v1beta/"):
        return Dialect.GEMINI
    return Dialect.OPENAI


def error_body(dialect: Dialect, err: GatewayError) -> dict[str, object]:
    """The JSON error object `err` becomes in `dialect`."""
    openai_type, code, anthropic_type = _KINDS.get(err.kind, _KINDS["internal"])
    if dialect is Dialect.ANTHROPIC:
        return {"type": "error", "error": {"type": anthropic_type, "message": err.message}}
    if dialect is Dialect.GEMINI:
        status = _GOOGLE_STATUS.get(err.kind, "INTERNAL")
        return {"error": {"code": err.status, "message": err.message, "status": status}}
    return {"error": {"message": err.message, "type": openai_type, "code": code}}


def error_json(dialect: Dialect, err: GatewayError) -> bytes:
    return json.dumps(error_body(dialect, err)).encode()


def error_response(dialect: Dialect, err: GatewayError) -> Response:
    """`err` as a plain HTTP answer in `dialect` (a 429 says when to retry; a spent budget, not to)."""
    headers = {"retry-after": "1"} if err.status == 429 else None
    if err.kind == "budget":
        headers = {"x-should-retry": "false"}  # the OpenAI and Anthropic SDKs read it before the status
    return Response(error_json(dialect, err), status_code=err.status, media_type="application/json", headers=headers)


def stream_error_event(dialect: Dialect, err: GatewayError) -> bytes:
    """An SSE event that tells a streaming client the stream failed (never a silent partial success).

    A Gemini stream gets Google's error object bare, not as a `data:` event: the google-genai SDK
    raises an ApiError (with the code and message) on a stream chunk that is such an object, and
    would take a `data:` event for an answer with no candidates."""
    payload = json.dumps(error_body(dialect, err))
    if dialect is Dialect.ANTHROPIC:
        return b"event: error\ndata: " + payload.encode() + b"\n\n"
    if dialect is Dialect.GEMINI:
        return payload.encode() + b"\n\n"
    return b"data: " + payload.encode() + b"\n\n"


def responses_error_event(err: GatewayError) -> bytes:
    """A Responses API stream's `error` event (`type`, `code`, `message`, `param`), which also carries
    the chat-style `error` object the OpenAI SDKs raise on."""
    openai_type, code, _ = _KINDS.get(err.kind, _KINDS["internal"])
    event: dict[str, object] = {"type": "error", "code": code or openai_type, "message": err.message, "param": None}
    event.update(error_body(Dialect.OPENAI, err))
    return b"event: error\ndata: " + json.dumps(event).encode() + b"\n\n"
