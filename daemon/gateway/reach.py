"""Whether a deployment on this machine can be reached at all, asked before LiteLLM is.

A refused connection on this machine is an answer, not a hiccup: the Router would retry it
with backoff for 5-7 s (its own error, an InternalServerError, reads as retryable) before the
client hears. A loopback connect costs microseconds, so it is tried first.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def refused_locally(api_base: str | None) -> str | None:
    """Why a loopback `api_base` cannot be reached, when nothing listens there (else None)."""
    if not api_base:
        return None
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("127."):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((host, port), timeout=0.2):
            return None
    except ConnectionRefusedError:
        return f"cannot reach the upstream {api_base}: connection refused (nothing listens on {host}:{port})"
    except (OSError, ValueError):
        return None  # anything else is the Router's to retry and report
