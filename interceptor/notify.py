"""Telling the running daemon that the registry changed, so ports open and close at once.

Stdlib `http.client` only: `memproxy ports assign` must stay quick to start.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
from typing import Any

from daemon.config.paths import Paths
from daemon.errors import MemproxyError
from daemon.lifecycle import read_daemon_info

SYNC_PATH = "/memproxy/ports/sync"


def _reachable(host: str) -> str:
    """A wildcard bind (every IPv4 or IPv6 address) is reachable on the matching loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "::1"
    return host


def notify_daemon(paths: Paths, master_key: str | None = None, timeout: float = 10.0) -> dict[str, Any] | None:
    """POST the daemon's port sync, or None if no daemon runs.

    The answer: `{"hosting": bool, "projects": {project: {"port", "listening", "error"}}}`.
    """
    result = post_daemon(paths, SYNC_PATH, master_key, timeout)
    if result is not None and not isinstance(result.get("projects"), dict):
        raise MemproxyError("the daemon answered the port sync with something unexpected")
    return result


def post_daemon(paths: Paths, path: str, master_key: str | None = None, timeout: float = 10.0) -> dict[str, Any] | None:
    """POST `path` of the running daemon (no body) and return its JSON object, or None if no daemon runs."""
    info = read_daemon_info(paths)
    if info is None:
        return None
    host = _reachable(info.host.strip("[]"))
    headers = {"Host": "127.0.0.1", "Content-Length": "0"}
    if master_key:
        headers["x-memproxy-key"] = master_key
    conn = http.client.HTTPConnection(host, info.port, timeout=timeout)
    try:
        conn.request("POST", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise MemproxyError(f"the daemon at {info.url} did not take the change: {exc}") from exc
    finally:
        conn.close()
    if response.status != 200:
        text = body.decode("utf-8", "replace")[:300]
        raise MemproxyError(f"the daemon at {info.url} did not take the change: HTTP {response.status} {text}")
    try:
        result = json.loads(body)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise MemproxyError(f"the daemon at {info.url} answered {path} with something unexpected")
    return result


def project_state(result: dict[str, Any], project: str) -> dict[str, Any] | None:
    """What a sync answer says about `project`; MemproxyError if the daemon cannot host ports at all."""
    if not result.get("hosting", True):
        raise MemproxyError("the running daemon does not host project ports; restart it with `memproxy restart`")
    state: dict[str, Any] | None = result["projects"].get(project)
    return state
