"""What the hardening matrix shares: client and master keys to hunt for, its config, its FIGURE lines.

Tests print one `FIGURE` line each with what they measured (`pytest tests/hardening -s | grep FIGURE`);
docs/reliability.md holds those figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.config import ANTHROPIC_KEY, OPENAI_KEY, gateway_config

if TYPE_CHECKING:
    from tests.support.daemon import Daemon

CLIENT_KEY = "sk-hardening-CLIENTOWN-7d2c58aa01fe"
MASTER_KEY = "mk-hardening-MASTER-e0c4b9f3179d"
# Any of them found in a file, a log line or an answer is a leak.
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, CLIENT_KEY, MASTER_KEY)

USER = [{"role": "user", "content": "Say something short."}]
ROUTES = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5"}


def config_text(upstream_url: str, **options: Any) -> str:
    """The tests' gateway config with memory off unless asked: the matrix measures the gateway."""
    return gateway_config(upstream_url, **{"memory": False, **options})


def figure(test: str, **values: Any) -> None:
    """One line of measured figures, collected into docs/reliability.md (run with -s)."""
    shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"\nFIGURE {test}: {shown}", flush=True)


def assigned_port(daemon: Daemon, project: str) -> int:
    """`memproxy ports assign <project>` on `daemon`; the port, once `ports --json` says it listens."""
    assigned = daemon.cli("ports", "assign", project)
    assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    (entry,) = [p for p in json.loads(daemon.cli("ports", "--json").stdout) if p["name"] == project]
    assert entry["listening"], entry
    return int(entry["port"])


def with_allowed_origin(config: str, origin: str) -> str:
    """`config` (with a general_settings section) with `origin` in `allowed_origins`."""
    return config.replace("general_settings:\n", f'general_settings:\n  allowed_origins: ["{origin}"]\n', 1)


@contextmanager
def gateway_and_project(
    home: Path, upstream_url: str, project: str, config: str | None = None
) -> Iterator[dict[str, int]]:
    """A daemon in `home` (with `config`, else the matrix's) with a port for `project`:
    {"gateway": its port, "project": the project's}."""
    from tests.support.daemon import start_daemon

    daemon = start_daemon(home, config if config is not None else config_text(upstream_url))
    try:
        yield {"gateway": daemon.port, "project": assigned_port(daemon, project)}
    finally:
        daemon.down()
