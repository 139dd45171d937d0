"""Whether a deployment on this machine can be reached at all, asked before LiteLLM is.

A refused connection on this machine is an answer, not a hiccup: the Router would retry it
with backoff for 5-7 s (its own error, an InternalServerError, reads as retryable) before the
client hears. A loopback connect costs microseconds, so it is tried first.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def is_loopback(api_base: str | None) -> bool:
    """Whether `api_base` names this machine (only such bases are worth probing)."""
    host = (urlsplit(api_base).hostname or "") if api_base else ""
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def refused_locally(api_base: str | None) -> str | None:
    """Why a loopback `api_base` cannot be reached, when nothing listens there (else None).

    It connects (a blocking call of microseconds, up to 0.2 s): callers on the event loop run it in a thread."""
    if not api_base or not is_loopback(api_base):
        return None
    parts = urlsplit(api_base)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((host, port), timeout=0.2):
            return None
    except ConnectionRefusedError:
        return f"cannot reach the upstream {api_base}: connection refused (nothing listens on {host}:{port})"
    except (OSError, ValueError):
        return None  # anything else is the Router's to retry and report
