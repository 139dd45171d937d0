"""Codex CLI (`codex exec`) answering through `memproxy intercept`, over the Responses API.

Codex is installed from npm once into /tmp/codex (reused across runs); the test is skipped, with the
reason, when npm or the install is not available. Codex 0.169 no longer follows OPENAI_BASE_URL, so
this is the test that `intercept -- codex` really reaches the project's port.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.config import gateway_config
from tests.support.daemon import MEMPROXY, Daemon, start_daemon
from tests.support.npm import npm_tool
from tests.support.upstream import FakeUpstream, text, tool_call

pytestmark = pytest.mark.e2e

CACHE = Path("/tmp/codex")
SCRIPTED = "Hello from the fake upstream via memproxy"
# (model, the upstream route it reaches): Claude is translated by LiteLLM behind /v1/responses
MODELS = [("gpt-5-codex", "/v1/responses"), ("claude-sonnet-4-5", "/v1/messages")]


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


def _codex(codex_bin: Path, gw: Daemon, project: str, model: str, prompt: str) -> subprocess.CompletedProcess[str]:
    """`memproxy intercept --project PROJECT -- codex exec -m MODEL PROMPT`, in its own home."""
    work = gw.home / "work"
    work.mkdir(exist_ok=True)
    (gw.home / "codex").mkdir(exist_ok=True)
    env = {**gw.env, "HOME": str(gw.home), "CODEX_HOME": str(gw.home / "codex")}
    codex = [str(codex_bin), "exec", "--skip-git-repo-check", "-m", model, prompt]
    return subprocess.run(
        [str(MEMPROXY), "intercept", "--project", project, "--", *codex],
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
    )


@pytest.mark.parametrize(("model", "upstream_path"), MODELS)
def test_codex_exec_answers_through_intercept(
    codex_bin: Path, gw: Daemon, fake: FakeUpstream, model: str, upstream_path: str
) -> None:
    project = f"codex-{model.split('-')[0]}"
    fake.script(text(SCRIPTED))
    result = _codex(codex_bin, gw, project, model, "say hi")
    assert result.returncode == 0, result.stderr[-3000:]
    assert SCRIPTED in result.stdout, result.stdout + result.stderr[-3000:]
    assert "WebSocket" not in result.stderr, "Codex tried its OpenAI WebSocket transport: not pointed at memproxy"
    seen = fake.last(upstream_path)
    assert isinstance(seen.body, dict) and seen.body["model"] == model and seen.body["stream"] is True
    (row,) = gw.project_rows(project)
    assert (row["endpoint"], row["model"], row["status"]) == ("/v1/responses", model, "ok")
    assert row["client"] == "codex" and "codex" in str(row["user_agent"])
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0


@pytest.mark.parametrize(("model", "upstream_path"), MODELS)
def test_codex_runs_its_own_tool_call_and_sends_the_result_back(
    codex_bin: Path, gw: Daemon, fake: FakeUpstream, model: str, upstream_path: str
) -> None:
    """Client tools pass through untouched: the model asks for Codex's `exec_command`, Codex runs it
    and its output reaches the model in the next request, whichever provider serves it."""
    project = f"codex-tools-{model.split('-')[0]}"
    fake.script(
        tool_call("exec_command", {"cmd": "echo memproxy-tool-ran"}, id="call_memproxy_1"),
        text("The command printed its line"),
    )
    result = _codex(codex_bin, gw, project, model, "run echo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "The command printed its line" in result.stdout, result.stdout + result.stderr[-3000:]
    calls = [r for r in fake.requests if r.path == upstream_path]
    assert len(calls) == 2, [r.path for r in fake.requests]
    second = json.dumps(calls[1].body)
    assert "call_memproxy_1" in second, "the tool result did not go back to the model"
    rows = gw.project_rows(project, 2)
    assert [r["status"] for r in rows] == ["ok", "ok"]
