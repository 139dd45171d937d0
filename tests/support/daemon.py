"""The daemon harness: the real daemon started and stopped through the CLI (`memproxy up`/`down`).

A `Daemon` is one MEMPROXY_HOME and a port; its methods run the CLI against it and read back what a
user would read (`memproxy status --json`, `memproxy logs --json`). The environment of every memproxy
subprocess is `clean_env`: its own home, none of the developer's keys, no proxies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_for
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
MEMPROXY = Path(sys.executable).with_name("memproxy")
if not MEMPROXY.exists():  # pragma: no cover - running outside the venv
    MEMPROXY = REPO / ".venv" / "bin" / "memproxy"

# Hidden from every test (tests/conftest.py) and every memproxy subprocess (clean_env).
PROVIDER_KEY_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "OPENROUTER_API_KEY",
    "SUPERMEMORY_API_KEY",
    "MEMPROXY_CONFIG",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
)
FINAL_STATUSES = frozenset({"ok", "error", "client_disconnected", "interrupted"})


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a memproxy subprocess: its own home, no real keys, no proxies."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEY_VARS and "proxy" not in k.lower()}
    env.update(MEMPROXY_HOME=str(home), LITELLM_LOCAL_MODEL_COST_MAP="True", NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


@dataclass
class Daemon:
    """One MEMPROXY_HOME and the CLI commands run against it."""

    home: Path
    port: int

    @property
    def env(self) -> dict[str, str]:
        return clean_env(self.home)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MEMPROXY), *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.home
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A memproxy command started in the background, its output piped."""
        return subprocess.Popen(
            [str(MEMPROXY), *args],
            env=self.env,
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("up", "--port", str(self.port), *args)

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.cli("down", "--timeout", "5")

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        """`with start_daemon(...) as daemon:` stops it (`memproxy down`) however the block ends."""
        self.down()

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def log_tail(self) -> str:
        try:
            return "\n".join((self.home / "daemon.log").read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no daemon log)"

    def rows(self) -> list[dict[str, Any]]:
        result = self.cli("logs", "--json", "-n", "1000")
        assert result.returncode == 0, result.stderr
        data: list[dict[str, Any]] = json.loads(result.stdout)
        return data

    def wait_rows(
        self, where: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The final (not in-flight) rows matching `where`, once there are at least `count` of them."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            found[:] = [r for r in self.rows() if where(r) and r["status"] in FINAL_STATUSES]
            return len(found) >= count

        wait_for(enough, timeout, 0.1)
        return found

    def project_rows(self, project: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        rows = self.wait_rows(lambda r: r["project"] == project, count, timeout)
        assert len(rows) >= count, f"expected {count} row(s) for {project}, got {rows}\n{self.log_tail()}"
        return rows


def start_daemon(home: Path, config_text: str | None, port: int | None = None) -> Daemon:
    """`memproxy up` in `home` (with `config_text` as its config.yaml); fails the test with the log tail
    if it does not start."""
    home.mkdir(parents=True, exist_ok=True)
    if config_text is not None:
        (home / "config.yaml").write_text(config_text)
    daemon = Daemon(home=home, port=port or free_port())
    result = daemon.up()
    if result.returncode != 0:
        daemon.down()
        pytest.fail(f"memproxy up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{daemon.log_tail()}")
    return daemon
