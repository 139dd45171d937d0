"""The answers of the routes that do not generate: a provider's error body, embeddings, the model list."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

from tests.support.upstream.rendering.planning import MODELS, Dialect, count_words, dumps

_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(dialect: Dialect, status: int, message: str | None = None, type: str | None = None) -> bytes:
    """The JSON error body a real provider sends for this status."""
    message = message or f"Fake upstream: HTTP {status}"
    if dialect == "anthropic":
        default = "api_error" if status >= 500 else "invalid_request_error"
        kind = type or _ANTHROPIC_ERRORS.get(status, default)
        return dumps({"type": "error", "error": {"type": kind, "message": message}})
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    err_type, code = _OPENAI_ERRORS.get(status, (default_type, None))
    return dumps({"error": {"message": message, "type": type or err_type, "param": None, "code": code}})


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic small vectors: the same input always gets the same embedding."""
    raw_input = body.get("input", "")
    inputs = [raw_input] if isinstance(raw_input, str) or (raw_input and isinstance(raw_input[0], int)) else raw_input
    dims = int(body.get("dimensions") or 8)
    data = []
    for index, item in enumerate(inputs):
        digest = hashlib.shake_256(json.dumps(item).encode()).digest(dims)
        vector = [round(b / 127.5 - 1.0, 6) for b in digest]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":  # the openai SDK asks for this by default
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = max(1, sum(count_words(i) if isinstance(i, str) else len(i) for i in inputs))
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": body.get("model", MODELS[2]), "usage": usage}


def models(anthropic: bool) -> dict[str, Any]:
    data: list[dict[str, Any]]
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in MODELS
            if m.startswith("claude")
        ]
        return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"} for m in MODELS]
    return {"object": "list", "data": data}
