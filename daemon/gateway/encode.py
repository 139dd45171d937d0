"""JSON out on the request path: a body sent upstream, an answer or an SSE event built for a client.

`orjson` writes a 250 KB request body in 0.18 ms where `json.dumps` takes 2.05 ms, and the bytes mean
the same to any JSON reader (compact, UTF-8 rather than `\\u` escapes). What orjson refuses, json
still writes, as memproxy wrote it before: an integer beyond 64 bits, a key that is not a string, a
lone surrogate (escaped; validation refuses those in a request already). NaN and the infinities
become `null` (json's `NaN` is no JSON a client parses; a request carrying one is refused when read).
Anything neither can write raises json's TypeError, as it did.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """`obj` as compact JSON bytes."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, separators=(",", ":")).encode()
