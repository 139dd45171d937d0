"""gemini-cli (`gemini -p`) answering through `memproxy intercept`, over Gemini's generateContent.

gemini-cli is installed from npm once into /tmp/gemini-cli (reused across runs); the test is skipped,
with the reason, when npm or the install is not available. It runs in its own HOME with no Google
login: `intercept` points GOOGLE_GEMINI_BASE_URL at the project's port and selects gemini-cli's
API-key auth with a placeholder key, so the deployments' own keys are the ones that reach the upstream.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import intercept
from tests.support.config import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY, gateway_config, with_gemini
from tests.support.daemon import Daemon, start_daemon
from tests.support.gemini_cli import settings_path
from tests.support.npm import npm_tool
from tests.support.upstream import FakeUpstream, Recorded, text

pytestmark = pytest.mark.e2e

CACHE = Path("/tmp/gemini-cli")
SCRIPTED = "Hello from the fake upstream via memproxy, for gemini"
# (model, the upstream route it reaches, the key the upstream must see): Gemini natively, the others
# translated by LiteLLM
MODELS = [
    ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI_KEY),
    ("claude-sonnet-4-5", "/v1/messages", ANTHROPIC_KEY),
    ("gpt-4o", "/v1/chat/completions", OPENAI_KEY),
]


@pytest.fixture(scope="session")
def gemini_bin() -> Path:
    return npm_tool("@google/gemini-cli", CACHE, "gemini")


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = with_gemini(gateway_config(upstream.url, timeout=30), upstream.url)
    daemon = start_daemon(tmp_path_factory.mktemp("gemini-home"), config)
    try:
        yield daemon
    finally:
        daemon.down()


def _gemini(gemini_bin: Path, gw: Daemon, project: str, model: str, prompt: str) -> subprocess.CompletedProcess[str]:
    """`memproxy intercept --project PROJECT -- gemini -m MODEL -p PROMPT`, in its own home."""
    work = gw.home / f"gemini-{project}"
    work.mkdir(exist_ok=True)
    cmd = [str(gemini_bin), "-m", model, "-p", prompt]
    env = {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": settings_path()}
    return intercept(gw, project, cmd, work, timeout=150, env=env)


def _key_seen(request: Recorded) -> str | None:
    auth = request.headers.get("authorization", "")
    return request.headers.get("x-goog-api-key") or request.headers.get("x-api-key") or auth.removeprefix("Bearer ")


@pytest.mark.parametrize(("model", "upstream_path", "key"), MODELS)
def test_gemini_cli_answers_through_intercept(
    gemini_bin: Path, gw: Daemon, fake: FakeUpstream, model: str, upstream_path: str, key: str
) -> None:
    project = f"gemini-cli-{model.split('-')[0]}"
    fake.default = text(SCRIPTED, usage={"input_tokens": 40, "output_tokens": 9})
    result = _gemini(gemini_bin, gw, project, model, "say hi")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:] + gw.log_tail()
    assert SCRIPTED in result.stdout, result.stdout + result.stderr[-3000:]
    calls = [r for r in fake.requests if r.path == upstream_path]
    assert calls and all(isinstance(r.body, dict) and r.body.get("model", model) == model for r in calls)
    assert all(_key_seen(r) == key for r in calls), [r.headers for r in calls]
    rows = gw.project_rows(project, len(calls))
    streamed = [r for r in rows if r["endpoint"] == "/v1beta/models/{model}:streamGenerateContent"]
    assert streamed, rows
    row = streamed[0]
    assert (row["model"], row["status"]) == (model, "ok")
    assert row["client"] == "gemini"
    assert (row["input_tokens"], row["output_tokens"]) == (40, 9)
