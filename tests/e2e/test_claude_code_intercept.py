"""Claude Code wrapped by `memproxy intercept --project shop -- claude -p ...`: answers, attributed to shop.

Claude Code comes from the `claude_bin` fixture of `test_claude_code` (npm install, cached; skipped with
the reason when npm cannot provide it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_claude_code import claude_bin  # noqa: F401  (the shared, cached install)
from tests.support.config import ANTHROPIC_KEY
from tests.support.daemon import MEMPROXY, Daemon
from tests.support.projects import ports, start
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

SCRIPTED = "Hi from the fake upstream, through shop's port"


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start(tmp_path_factory.mktemp("cc-intercept-home"), upstream.url, timeout=30)
    try:
        yield daemon
    finally:
        daemon.down()


def test_claude_code_through_memproxy_intercept_is_attributed_to_the_project(
    claude_bin: Path,  # noqa: F811
    gw: Daemon,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    upstream.reset()
    upstream.default = text(SCRIPTED)
    env = {
        **gw.env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ANTHROPIC_API_KEY": "sk-test",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    try:
        result = subprocess.run(
            [str(MEMPROXY), "intercept", "--project", "shop", "--", str(claude_bin), "-p", "say hi"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        upstream.default = text()
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{gw.log_tail()}"
    assert SCRIPTED in result.stdout
    assert ports(gw)["shop"]["listening"] is True  # intercept registered shop and the daemon listens

    messages = [r for r in upstream.requests if r.path == "/v1/messages"]
    assert messages
    assert all(r.headers.get("x-api-key") == ANTHROPIC_KEY for r in messages)  # the gateway's key, not sk-test
    rows = gw.wait_rows(lambda r: r["endpoint"] == "/v1/messages", len(messages))
    assert len(rows) >= len(messages)
    assert {r["project"] for r in gw.rows()} == {"shop"}
    assert all(r["status"] == "ok" and r["client"] == "claude" for r in rows), rows  # `intercept -- claude`
    assert all(str(r["user_agent"]).startswith("claude-cli/") for r in rows), rows
