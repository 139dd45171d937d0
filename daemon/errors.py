"""The errors memproxy raises on purpose.

    MemproxyError
    ├── ConfigError          a config file that cannot be used (carries file, line, key)
    ├── DaemonNotRunning     a command needs the daemon and it is not up
    ├── DaemonStartError     `up` could not bring the daemon to health
    ├── PortInUse            a port another process holds (carries what holds it)
    ├── RegistryError        the project → port registry cannot be read or changed
    ├── InvalidProjectName   a project name outside SPEC's pattern
    ├── MemoryBackendError   the memory store failed
    └── GatewayError         a request the gateway answers with an error (carries HTTP status and kind)

Only `memproxy_cli` turns these into exit codes; library code raises them.
"""

from __future__ import annotations


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


class GatewayError(MemproxyError):
    """An error the gateway answers with, in the route's dialect.

    `kind` is a dialect-neutral name (`invalid_request`, `authentication`, `not_found`,
    `payload_too_large`, `rate_limit`, `upstream`, `unavailable`, `timeout`, `internal`).
    """

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
