"""Reading a request body safely: size limit before reading it all, Content-Length checked, JSON parsed."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from daemon.errors import GatewayError


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing more than `max_bytes` without reading the rest (413) and a bad Content-Length (400)."""
    declared = request.headers.get("content-length")
    expected: int | None = None
    if declared is not None:
        try:
            expected = int(declared)
        except ValueError:
            raise GatewayError(400, "invalid_request", "Content-Length header is not a number") from None
        if expected < 0:
            raise GatewayError(400, "invalid_request", "Content-Length header is negative")
        if expected > max_bytes:
            raise GatewayError(413, "payload_too_large", f"request body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise GatewayError(413, "payload_too_large", f"request body is larger than {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise GatewayError(400, "invalid_request", "the client closed the connection before the body ended") from None
    if expected is not None and size != expected:
        raise GatewayError(400, "invalid_request", f"Content-Length says {expected} bytes but the body has {size}")
    return b"".join(chunks)


class _BadConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _BadConstant(f"request body contains {name}, which JSON does not allow")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse `raw` as a JSON object or raise a 400 that says what is wrong."""
    if not raw.strip():
        raise GatewayError(400, "invalid_request", "request body is empty; expected a JSON object")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise GatewayError(400, "invalid_request", "request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise GatewayError(
            400, "invalid_request", f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except _BadConstant as exc:
        raise GatewayError(400, "invalid_request", str(exc)) from None
    except RecursionError:
        raise GatewayError(400, "invalid_request", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "invalid_request", "request body must be a JSON object")
    return data


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    return parse_json_object(await read_body(request, max_bytes))
