"""The daemon log: one rotating file, every line through one handler, readable by its owner alone.

`daemon.log` rotates by size (`logging.max_bytes`, `logging.backups`: daemon.log.1 ... .N) with the
standard library's RotatingFileHandler. Rotation only works if nothing else holds the file open, so the
spawner no longer points the daemon's stdout/stderr at it: they go to `daemon.out` (truncated at each
start; it catches what is printed before logging is set up, and a crash's native traceback), and once
the handler is in place a background daemon's Python-level stdout/stderr are lines of the log too.

LiteLLM gives its own loggers a stderr handler with its own format while they also propagate to the
root logger, so each of its warnings and errors printed twice; `drop_foreign_handlers` leaves one line,
ours, with configured keys taken out.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that get a handler of their own from their library (LiteLLM's, at import).
FOREIGN_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)  # a planted symlink is an error, never followed


class OwnerOnlyRotatingHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the live one and each rotated one) are created 0600."""

    def _open(self) -> Any:
        stream = open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=_owner_only)  # noqa: SIM115
        os.chmod(self.baseFilename, 0o600)  # a log created before this release may be world-readable
        return stream


class Redacting(logging.Filter):
    """Takes the configured keys out of every line, tracebacks included (LiteLLM's messages and its
    exceptions may quote a request). A foreign library's traceback (LiteLLM logs one for each upstream
    fault, which memproxy records itself) is cut to its last line, unless the level is debug; one of
    memproxy's own is a bug, and is kept whole."""

    def __init__(self, secrets: Iterable[str], *, whole_foreign_tracebacks: bool = False) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._whole_foreign = whole_foreign_tracebacks

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg, record.args = self._redact(record.getMessage()), None
        if record.exc_info or record.exc_text:  # LiteLLM's own filter may have formatted it already
            text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)  # type: ignore[arg-type]
            if not self._whole_foreign and record.name.startswith(FOREIGN_LOGGERS):
                text = text.rstrip().rsplit("\n", 1)[-1]  # "httpx.ReadError: ..."
            record.exc_text = self._redact(text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


class _LogStream(io.TextIOBase):
    """sys.stdout/sys.stderr of a background daemon: each complete line becomes a log record."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger, self._level, self._pending = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self._logger.log(self._level, "%s", line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self._logger.log(self._level, "%s", self._pending.rstrip())
        self._pending = ""


def setup_daemon_logging(
    level: str,
    log_file: Path,
    *,
    max_bytes: int,
    backups: int,
    secrets: Iterable[str] = (),
    background: bool = False,
) -> logging.Handler:
    """Route every log record to the rotating `log_file` (and stderr in the foreground); the file handler."""
    handler = OwnerOnlyRotatingHandler(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    redacting = Redacting(secrets, whole_foreign_tracebacks=level.lower() == "debug")
    handler.addFilter(redacting)
    handlers: list[logging.Handler] = [handler]
    if not background:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(FORMAT))
        console.addFilter(redacting)
        handlers.append(console)
    logging.basicConfig(level=level.upper(), handlers=handlers, force=True)
    logging.captureWarnings(True)
    # LiteLLM logs request details (and at debug, headers) itself; keep it to warnings.
    for name in (*FOREIGN_LOGGERS, "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    drop_foreign_handlers()
    if background:
        sys.stdout = _LogStream(logging.getLogger("memproxy.stdout"), logging.INFO)  # type: ignore[assignment]
        sys.stderr = _LogStream(logging.getLogger("memproxy.stderr"), logging.WARNING)  # type: ignore[assignment]
    return handler


def drop_foreign_handlers() -> None:
    """Remove the handlers libraries gave their own loggers: their records reach ours by propagation.

    Called once logging is set up and again after LiteLLM is imported (it adds them at import)."""
    for name in FOREIGN_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of `path` (and of its rotated predecessor when the live file is short)."""
    found: list[str] = []
    for candidate in (path, path.with_name(path.name + ".1")):
        try:
            text = candidate.read_text(errors="replace")
        except OSError:
            continue
        found = text.splitlines() + found if candidate != path else text.splitlines()
        if len(found) >= lines:
            break
    return found[-lines:] if lines else []
