"""The errors memproxy raises on purpose.

    MemproxyError
    ├── ConfigError          a config file that cannot be used (carries file, line, key)
    ├── DaemonNotRunning     a command needs the daemon and it is not up
    ├── DaemonStartError     `up` could not bring the daemon to health
    ├── PortInUse            a port another process holds (carries what holds it)
    ├── RegistryError        the project → port registry cannot be read or changed
    ├── InvalidProjectName   a project name outside SPEC's pattern
    ├── MemoryBackendError   the memory store failed
    ├── DatabankError        the usage databank cannot be opened, read or written
    ├── CommandFailed        `intercept` could not start the wrapped command (carries exit_code 126/127)
    ├── TimespecError        a `--since`/`--until` value that is not a time (also a ValueError)
    └── GatewayError         a request the gateway answers with an error (its class says status and kind)
        ├── InvalidRequest         400  a body, header or field the gateway cannot serve
        ├── AuthenticationFailed   401  no key for the model, or the upstream refused it
        ├── BudgetExceeded         402  the project's budget is spent (daemon.budgets); SDKs do not retry it
        ├── PermissionDenied       403  a foreign Host or Origin, a wrong master key, an upstream 403
        ├── ModelNotFound          404  a model no deployment serves (or the upstream does not know)
        ├── PayloadTooLarge        413  a body over the size limit
        ├── RateLimited            429  the upstream's rate limit
        ├── InternalError          500  memproxy itself failed
        ├── UpstreamFailed         502  the upstream failed, broke off or could not be reached
        │   └── UpstreamEndpointMissing  502  its 404 was about the URL, not a model (a chat-only server)
        ├── UpstreamUnavailable    503  the upstream says it is overloaded
        └── UpstreamTimeout        504  no answer (or a stalled stream) within the budget

Only `memproxy_cli` turns these into exit codes; library code raises them. `for_upstream_status` is the
one table from an upstream's HTTP status to the error the client gets, for LiteLLM's exceptions and the
fast path alike. When the URL that answered is known, the message names it and the status
(`upstream http://127.0.0.1:8000/v1/responses answered 404: Not Found`).
"""

from __future__ import annotations

import copy
import json
from typing import ClassVar
from urllib.parse import urlsplit


class MemproxyError(Exception):
    """Base of every error memproxy raises on purpose."""


class ConfigError(MemproxyError):
    """A config file that cannot be used."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  {p}" for p in self.problems)


class DaemonNotRunning(MemproxyError):
    """The daemon is not running."""


class DaemonStartError(MemproxyError):
    """The daemon did not come up healthy."""


class PortInUse(MemproxyError):
    """A port is held by another process."""


class RegistryError(MemproxyError):
    """The project registry cannot be read or changed."""


class InvalidProjectName(MemproxyError):
    """A project name that does not match SPEC's pattern."""


class MemoryBackendError(MemproxyError):
    """The memory backend failed."""


class DatabankError(MemproxyError):
    """The usage databank cannot be opened, read or written."""


class CommandFailed(MemproxyError):
    """The wrapped command could not be started; `exit_code` is what a shell would return (126/127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TimespecError(MemproxyError, ValueError):
    """A `--since`/`--until` value that is not a time (the CLI's error boundary reports it)."""


class GatewayError(MemproxyError):
    """An error the gateway answers with, in the client's dialect.

    `kind` is a dialect-neutral name that `daemon.dialects` maps to each dialect's error types; each
    subclass fixes it and the HTTP status (an upstream's own 4xx status may be kept via `status=`).
    """

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status  # type: ignore[misc]  # an instance may carry the upstream's own status

    def with_message(self, message: str) -> GatewayError:
        """The same error (class, status) saying `message` instead (a redacted copy, say)."""
        clone = copy.copy(self)
        clone.message = message
        clone.args = (message,)
        return clone


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request"


class AuthenticationFailed(GatewayError):
    status = 401
    kind = "authentication"


class BudgetExceeded(GatewayError):
    """A hard budget limit would be passed: 402, which no SDK (nor Claude Code) retries, where a 429 is
    retried again and again (docs/budgets.md)."""

    status = 402
    kind = "budget"


class PermissionDenied(GatewayError):
    status = 403
    kind = "permission"


class ModelNotFound(GatewayError):
    status = 404
    kind = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    kind = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit"


class InternalError(GatewayError):
    status = 500
    kind = "internal"


class UpstreamFailed(GatewayError):
    status = 502
    kind = "upstream"


class UpstreamEndpointMissing(UpstreamFailed):
    """The upstream answered 404 about the endpoint, not the model: it has no such API. Not a 404 for
    the client, which would read it as "no such model" (Claude Code says so)."""


class UpstreamUnavailable(GatewayError):
    status = 503
    kind = "unavailable"


class GatewayStopping(GatewayError):
    """The daemon is stopping and could not wait for this answer to end (`memproxy down --timeout`)."""

    status = 503
    kind = "unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    kind = "timeout"


_CLIENT_FAULTS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    403: PermissionDenied,
    404: ModelNotFound,
    413: PayloadTooLarge,
    422: InvalidRequest,
    429: RateLimited,
}


def upstream_message(status: int, payload: bytes) -> str:
    """What an upstream's error body says: OpenAI's and Anthropic's `error.message`, a bare `error`
    string (Ollama, LM Studio), FastAPI's `detail` (vLLM), else the text itself."""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for said in (error, data.get("detail"), data.get("message")):
            if isinstance(said, str) and said:
                return said
    return str(data)[:500]


def _public(url: str) -> str:
    # scheme, host, port and path only: a query or user info may carry a credential
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def for_upstream_status(status: int, message: str, url: str | None = None) -> GatewayError:
    """The error a client gets for an upstream at `url` (when known) that answered `status` saying `message`."""
    said = f"upstream {_public(url)} answered {status}: {message}" if url else ""
    if status == 404 and "model" not in message.lower():
        # an unknown model is named in the answer (OpenAI, Anthropic, vLLM, Ollama all do); a missing
        # endpoint is "Not Found", "Invalid URL (POST /v1/responses)", "404 page not found"
        where = said or f"upstream answered 404: {message}"
        return UpstreamEndpointMissing(f"{where} (the server has no such endpoint)")
    if status == 401:
        return AuthenticationFailed(f"{said} (the key was refused)" if said else f"upstream refused the key: {message}")
    if status in _CLIENT_FAULTS:
        return _CLIENT_FAULTS[status](said or message)
    if status in (503, 529):
        return UpstreamUnavailable(said or f"upstream unavailable: {message}")
    if 400 <= status < 500:
        return InvalidRequest(said or message, status=status)
    return UpstreamFailed(said or f"upstream failed ({status}): {message}")
