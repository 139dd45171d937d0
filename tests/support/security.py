"""What the security modules (tests/hardening/security/) share: the limits of their daemon, the master
key header, a raw request on a socket and a small chat body."""

from __future__ import annotations

import json
from typing import Any

from tests.support.hardening import MASTER_KEY, USER
from tests.support.wire import raw_http

MAX_BODY = 4096
BODY_TIMEOUT = 1.0
KEYED = {"x-memproxy-key": MASTER_KEY}
CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"


def raw_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """`method path` with exactly these headers (plus Content-Length and Connection: close); the answer."""
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def chat_body(model: str = "gpt-4o", **extra: Any) -> bytes:
    return json.dumps({"model": model, "messages": USER, "max_tokens": 5, **extra}).encode()
