"""End-to-end fixtures: a fake upstream server and the real daemon, started and stopped through the CLI.

A module-scoped daemon is shared by the tests of a module (start takes a few seconds). Each test
gets its own project name (`x-memproxy-project`), so it can pick its own rows out of
`memproxy logs --json`, which is what a user would read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROVIDER_KEY_VARS
from tests.fake_upstream import FakeUpstream

REPO = Path(__file__).resolve().parents[2]
MEMPROXY = Path(sys.executable).with_name("memproxy")
if not MEMPROXY.exists():  # pragma: no cover - running outside the venv
    MEMPROXY = REPO / ".venv" / "bin" / "memproxy"

FINAL_STATUSES = frozenset({"ok", "error", "client_disconnected", "interrupted"})
OPENAI_KEY = "sk-test-openai"
ANTHROPIC_KEY = "sk-test-anthropic"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a memproxy subprocess: its own home, no real keys, no proxies."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEY_VARS and "proxy" not in k.lower()}
    env.update(MEMPROXY_HOME=str(home), LITELLM_LOCAL_MODEL_COST_MAP="True", NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


def gateway_config(upstream_url: str, *, num_retries: int = 0, timeout: float = 3, extra: str = "") -> str:
    """gpt-* and claude-* routed to the fake with keys; byok-* routed there without one."""
    return f"""\
model_list:
  - model_name: "gpt-*"
    litellm_params:
      model: "openai/gpt-*"
      api_base: "{upstream_url}/v1"
      api_key: {OPENAI_KEY}
  - model_name: "claude-*"
    litellm_params:
      model: "anthropic/claude-*"
      api_base: "{upstream_url}"
      api_key: {ANTHROPIC_KEY}
  - model_name: "byok-*"
    litellm_params:
      model: "openai/byok-*"
      api_base: "{upstream_url}/v1"
router_settings:
  num_retries: {num_retries}
  timeout: {timeout}
{extra}"""


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

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("up", "--port", str(self.port), *args)

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.cli("down", "--timeout", "5")

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
        deadline = time.monotonic() + timeout
        while True:
            rows = [r for r in self.rows() if where(r) and r["status"] in FINAL_STATUSES]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def project_rows(self, project: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        rows = self.wait_rows(lambda r: r["project"] == project, count, timeout)
        assert len(rows) >= count, f"expected {count} row(s) for {project}, got {rows}\n{self.log_tail()}"
        return rows


def start_daemon(home: Path, config_text: str | None, port: int | None = None) -> Daemon:
    home.mkdir(parents=True, exist_ok=True)
    if config_text is not None:
        (home / "config.yaml").write_text(config_text)
    daemon = Daemon(home=home, port=port or free_port())
    result = daemon.up()
    if result.returncode != 0:
        daemon.down()
        pytest.fail(f"memproxy up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{daemon.log_tail()}")
    return daemon


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake(upstream: FakeUpstream) -> Iterator[FakeUpstream]:
    """The module's fake upstream, with nothing scripted or recorded from earlier tests."""
    upstream.reset()
    yield upstream
    upstream.reset()


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The real daemon (`memproxy up`) routing gpt-*, claude-* and byok-* to the fake upstream."""
    daemon = start_daemon(tmp_path_factory.mktemp("gateway-home"), gateway_config(upstream.url))
    try:
        yield daemon
    finally:
        daemon.down()


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    """A project name unique to this test, to find its rows."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-.")[:48] or "t"
    return f"{name}-{uuid.uuid4().hex[:8]}"


def npm_tool(package: str, cache: Path, name: str) -> Path:
    """The `name` binary of npm `package`, installed once into `cache` (reused across runs).

    Skips the test, with the reason, when npm or the install is not available.
    """
    binary = cache / "node_modules" / ".bin" / name
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not installed: cannot install {package}")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), package],
                capture_output=True,
                text=True,
                timeout=180,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install {package} took more than 3 minutes")
        if result.returncode != 0 or not binary.exists():
            pytest.skip(f"npm install {package} failed: {result.stderr[-500:]}")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    if version.returncode != 0:
        pytest.skip(f"{name} --version failed: {version.stderr[-500:]}")
    return binary
