"""Reading a request body safely: size limit before reading it all, Content-Length checked, JSON parsed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request

from daemon.config.settings import GeneralSettings
from daemon.errors import InvalidRequest, PayloadTooLarge
from daemon.gateway import bigjson, freeing

T = TypeVar("T")


class BodyStalled(Exception):
    """The client stopped sending its body for longer than `body_timeout`."""

    def __init__(self, received: int, seconds: float) -> None:
        super().__init__(f"the request body stopped arriving: {received} bytes came, then nothing for {seconds:g} s")


async def paced(chunks: AsyncIterator[bytes], idle_seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, raising BodyStalled when the next one takes longer than `idle_seconds` to come.

    A tool that declares more bytes than it sends, then waits, would otherwise hold its request
    (and a connection) open for as long as it waits.
    """
    received = 0
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyStalled(received, idle_seconds) from None
        received += len(chunk)
        yield chunk


async def read_body(request: Request, general: GeneralSettings) -> bytes:
    """The raw body, refusing more than `max_body_bytes` without reading the rest (413), a bad
    Content-Length (400) and a body that stops arriving for `body_timeout` seconds (400)."""
    max_bytes = general.max_body_bytes
    declared = request.headers.get("content-length")
    expected: int | None = None
    if declared is not None:
        try:
            expected = int(declared)
        except ValueError:
            raise InvalidRequest("Content-Length header is not a number") from None
        if expected < 0:
            raise InvalidRequest("Content-Length header is negative")
        if expected > max_bytes:
            raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in paced(request.stream(), general.body_timeout):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequest("the client closed the connection before the body ended") from None
    except BodyStalled as exc:
        declared_part = f" of the {expected} its Content-Length declared" if expected is not None else ""
        raise InvalidRequest(f"{exc}{declared_part}") from None
    if expected is not None and size != expected:
        raise InvalidRequest(f"Content-Length says {expected} bytes but the body has {size}")
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise bigjson.Constant(name)


def _fault(exc: BaseException) -> InvalidRequest | None:
    """The 400 a parser's error means, the same from both parsers; None for one that means nothing here."""
    if isinstance(exc, UnicodeDecodeError):
        return InvalidRequest("request body is not UTF-8 text")
    if isinstance(exc, json.JSONDecodeError):
        return InvalidRequest(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if isinstance(exc, bigjson.Constant):
        return InvalidRequest(f"request body contains {exc.name}, which JSON does not allow")
    if isinstance(exc, bigjson.LoneSurrogate):
        return InvalidRequest(_LONE_SURROGATE)
    if isinstance(exc, RecursionError):
        return InvalidRequest("request body is nested too deeply")
    return None


# A body this long is parsed in a worker thread, in steps (daemon.gateway.bigjson): one json.loads
# of 24.7 MiB held the event loop (and so every other request, /health too) 2.9 s.
BIG_BODY_BYTES = 256 * 1024


async def parse_body(raw: bytes) -> dict[str, Any]:
    """`parse_json_object`, off the event loop for a body of `BIG_BODY_BYTES` or more."""
    if len(raw) < BIG_BODY_BYTES:
        return parse_json_object(raw)
    return await asyncio.to_thread(_parse_big, raw)


async def validated(raw: bytes, validate: Callable[[dict[str, Any]], T], body: dict[str, Any]) -> T:
    """`validate(body)`, in a worker thread for a body of `BIG_BODY_BYTES` or more: the checks are
    Python loops (`validation.check_tools` walked 100,000 tools on the loop for 0.024–0.13 s), and in a
    thread they hand the GIL back every switch interval."""
    if len(raw) < BIG_BODY_BYTES:
        return validate(body)
    return await asyncio.to_thread(validate, body)


def _parse_big(raw: bytes) -> dict[str, Any]:
    """A big body parsed in steps; each fault said as `parse_json_object` says it, found without
    parsing the body again (that would be one long json.loads). The value is handed to
    `freeing.hold` at once: it is freed off the loop, in steps, once nothing else holds it."""
    try:
        data = bigjson.loads(raw)
    except (ValueError, RecursionError) as exc:
        fault = _fault(exc)
        if fault is None:  # a byte order mark, which json.loads takes
            return parse_json_object(raw)
        raise fault from None
    freeing.hold(data)
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse `raw` as a JSON object or raise a 400 that says what is wrong."""
    if not raw.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        fault = _fault(exc)
        if fault is None:
            raise
        raise fault from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(data)
    return data


# `"\ud800"` is valid JSON but no Unicode text: json.loads keeps the lone surrogate, and the upstream
# call failed on it later as a 502 (a client-caused 5xx). Only a body with an escape that looks
# unpaired is checked: a high one with no low one after it, or a low one with no high one before it
# (Python's json.dumps writes every emoji as a pair, and such bodies need no second pass).
_HIGH, _LOW = rb"\\u[dD][89abAB][0-9a-fA-F]{2}", rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_SURROGATE_ESCAPE = re.compile(_HIGH + rb"(?!" + _LOW + rb")|(?<!" + _HIGH + rb")" + _LOW)


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(_LONE_SURROGATE) from None


_LONE_SURROGATE = "request body contains an unpaired UTF-16 surrogate escape (such as \\ud800), which is not text"
