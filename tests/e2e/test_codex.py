"""Codex CLI (`codex exec`) answering through `memproxy intercept`, over the Responses API.

Codex is installed from npm once into /tmp/codex (reused across runs); the test is skipped, with the
reason, when npm or the install is not available. Codex 0.169 no longer follows OPENAI_BASE_URL, so
this is the test that `intercept -- codex` really reaches the project's port.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import MEMPROXY, Daemon, gateway_config, npm_tool, start_daemon
from tests.fake_upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

CACHE = Path("/tmp/codex")
SCRIPTED = "Hello from the fake upstream via memproxy"


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    return npm_tool("@openai/codex", CACHE, "codex")


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("codex-home"), gateway_config(upstream.url, timeout=30))
    try:
        yield daemon
    finally:
        daemon.down()


@pytest.mark.parametrize(
    ("model", "upstream_path"),
    [("gpt-5-codex", "/v1/responses"), ("claude-sonnet-4-5", "/v1/messages")],  # Claude: LiteLLM translates
)
def test_codex_exec_answers_through_intercept(
    codex_bin: Path, gw: Daemon, fake: FakeUpstream, model: str, upstream_path: str
) -> None:
    project = f"codex-{model.split('-')[0]}"
    fake.script(text(SCRIPTED))
    work = gw.home / "work"
    work.mkdir(exist_ok=True)
    env = {**gw.env, "HOME": str(gw.home), "CODEX_HOME": str(gw.home / "codex")}
    (gw.home / "codex").mkdir(exist_ok=True)
    codex = [str(codex_bin), "exec", "--skip-git-repo-check", "-m", model, "say hi"]
    result = subprocess.run(
        [str(MEMPROXY), "intercept", "--project", project, "--", *codex],
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert SCRIPTED in result.stdout, result.stdout + result.stderr[-3000:]
    assert "WebSocket" not in result.stderr, "Codex tried its OpenAI WebSocket transport: not pointed at memproxy"
    seen = fake.last(upstream_path)
    assert isinstance(seen.body, dict) and seen.body["model"] == model and seen.body["stream"] is True
    (row,) = gw.project_rows(project)
    assert (row["endpoint"], row["model"], row["status"]) == ("/v1/responses", model, "ok")
    assert row["client"] and "codex" in row["client"]
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
