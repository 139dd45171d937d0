"""Raw HTTP on a socket, for what no client library would send (half-closes, garbage), and SSE parsing."""

from __future__ import annotations

import json
import socket
from typing import Any


def raw_http(port: int, request: bytes, *, half_close: bool = False, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes, the timeout runs out, or a full response arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    """Read one HTTP response (Content-Length or close-delimited), or what came before a timeout."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and len(body) >= int(value.strip() or 0):
                        return data
    except (TimeoutError, ConnectionResetError):
        return data


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data or raw text) for each SSE event in `raw`."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = None, None
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data = line[5:].strip().decode("utf-8", "replace")
        if data is None:
            continue
        try:
            events.append((name, json.loads(data)))
        except ValueError:
            events.append((name, data))
    return events
