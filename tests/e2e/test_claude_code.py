"""Claude Code (`claude -p`) answering through the gateway, with `ANTHROPIC_BASE_URL` pointing at it.

Claude Code is installed from npm once into /tmp/claude-code (reused across runs); the test is
skipped, with the reason, when npm or the install is not available.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.config import ANTHROPIC_KEY, gateway_config
from tests.support.daemon import Daemon, start_daemon
from tests.support.npm import npm_tool
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

CACHE = Path("/tmp/claude-code")
SCRIPTED = "Hi there from the fake upstream via memproxy"


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    return npm_tool("@anthropic-ai/claude-code", CACHE, "claude")


@pytest.fixture(scope="module")
def cc_gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("cc-home"), gateway_config(upstream.url, timeout=30))
    try:
        yield daemon
    finally:
        daemon.down()


def run_claude(claude: Path, gateway: Daemon, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": "sk-test",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run([str(claude), "-p", *args], env=env, cwd=home, capture_output=True, text=True, timeout=120)


def describe(fake: FakeUpstream) -> str:
    """What Claude Code sent, as the upstream saw it (for the report when something fails)."""
    lines = []
    for rec in fake.requests:
        body = rec.body if isinstance(rec.body, dict) else {}
        beta = rec.headers.get("anthropic-beta")
        lines.append(
            f"{rec.method} {rec.path} model={body.get('model')} stream={body.get('stream')} "
            f"tools={len(body.get('tools') or [])} thinking={body.get('thinking')} anthropic-beta={beta}"
        )
    return "\n".join(lines)


def test_claude_code_answers_through_the_gateway(
    claude_bin: Path, cc_gateway: Daemon, upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.default = text(SCRIPTED)
    try:
        result = run_claude(claude_bin, cc_gateway, tmp_path, "say hi")
    finally:
        upstream.default = text()
    sent = describe(upstream)
    print(f"Claude Code sent:\n{sent}")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{sent}\n{cc_gateway.log_tail()}"
    assert SCRIPTED in result.stdout

    messages = [r for r in upstream.requests if r.path == "/v1/messages"]
    assert messages, sent
    for rec in messages:
        # the gateway's key went upstream, never Claude Code's
        assert rec.headers.get("x-api-key") == ANTHROPIC_KEY
        assert "sk-test" not in rec.headers.get("authorization", "")
        assert str(rec.body["model"]).startswith("claude-")
    rows = cc_gateway.wait_rows(lambda r: r["endpoint"] == "/v1/messages", len(messages))
    assert len(rows) >= len(messages)
    assert all(r["status"] == "ok" for r in rows), rows
    assert all(r["client"] == "claude" and str(r["user_agent"]).startswith("claude-cli/") for r in rows), rows
    assert any(r["stream"] for r in rows)
    assert all(r["input_tokens"] > 0 and r["latency_ms"] > 0 for r in rows)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"])
def test_claude_code_model_names_route_by_wildcard(
    claude_bin: Path, cc_gateway: Daemon, upstream: FakeUpstream, tmp_path: Path, model: str
) -> None:
    upstream.reset()
    upstream.default = text(SCRIPTED)
    try:
        result = run_claude(claude_bin, cc_gateway, tmp_path, "--model", model, "say hi")
    finally:
        upstream.default = text()
    sent = describe(upstream)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{sent}"
    assert SCRIPTED in result.stdout
    models = {r.body["model"] for r in upstream.requests if r.path == "/v1/messages"}
    assert model in models, sent
    rows = cc_gateway.wait_rows(lambda r: r["model"] == model)
    assert rows and rows[-1]["status"] == "ok" and rows[-1]["cost_usd"] > 0
    assert json.loads(json.dumps(rows[-1]))["provider"] == "anthropic"
