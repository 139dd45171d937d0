"""Issue 15, Done-when 4: what Claude Code was told in a project, Codex recalls in it; never in another.

The real daemon (`memproxy up`), the real `claude` CLI and the real `codex exec` (npm installs, cached;
skipped with the reason when npm cannot provide them), each wrapped by `memproxy intercept --project`.
Claude Code is told a fact on project P (its answer captured as P's memory); then Codex asks about it
on P and on Q. The fact must be in the Responses request Codex's question reached the upstream with on
P, and that row must list the memory's id; on Q neither.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_claude_code import claude_bin  # noqa: F401  (the shared, cached install)
from tests.e2e.test_codex import codex_bin  # noqa: F401
from tests.support.config import gateway_config
from tests.support.daemon import MEMPROXY, Daemon, start_daemon
from tests.support.projects import memories, wait_memory
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

FACT = "the staging database of the shop is called zanzibar-db-7"
MARKER = "zanzibar-db-7"
QUESTION = "What is the staging database of the shop called?"


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("cross-tool-home"), gateway_config(upstream.url, timeout=30))
    try:
        yield daemon
    finally:
        daemon.down()


def _intercept(gw: Daemon, project: str, command: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [str(MEMPROXY), "intercept", "--project", project, "--", *command],
        env={**gw.env, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}\n{gw.log_tail()}"
    return result.stdout


def _codex_asks(codex: Path, gw: Daemon, fake: FakeUpstream, project: str, home: Path) -> dict[str, object]:
    """Codex asks QUESTION on `project`; the Responses body the upstream got."""
    (home / "codex").mkdir(parents=True, exist_ok=True)
    fake.script(text("It is in your notes."))
    command = [str(codex), "exec", "--skip-git-repo-check", "-m", "gpt-5-codex", QUESTION]
    _intercept(gw, project, command, {"HOME": str(home), "CODEX_HOME": str(home / "codex")}, home)
    body = fake.last("/v1/responses").body
    assert isinstance(body, dict) and QUESTION in json.dumps(body), body
    return body


def test_codex_recalls_what_claude_code_was_told_in_the_same_project_only(
    claude_bin: Path,  # noqa: F811
    codex_bin: Path,  # noqa: F811
    gw: Daemon,
    fake: FakeUpstream,
    project: str,
    tmp_path: Path,
) -> None:
    other = f"{project}-q"
    claude_env = {
        "HOME": str(tmp_path / "claude-home"),
        "ANTHROPIC_API_KEY": "sk-test",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    (tmp_path / "claude-home").mkdir()
    fake.default = text(f"Noted: {FACT}.")
    try:
        _intercept(gw, project, [str(claude_bin), "-p", f"Remember this: {FACT}."], claude_env, tmp_path)
    finally:
        fake.default = text()
    told = wait_memory(gw, project, lambda m: MARKER in m["text"], timeout=20)
    fact_ids = {m["id"] for m in told if MARKER in m["text"]}
    assert fact_ids, f"Claude Code's exchange was not captured on {project}: {told}"

    body = _codex_asks(codex_bin, gw, fake, project, tmp_path / "codex-p")
    assert MARKER in json.dumps(body), "Codex's request on the same project did not get the memory"
    (row,) = gw.wait_rows(lambda r: r["project"] == project and r["endpoint"] == "/v1/responses")
    assert row["client"] == "codex" and row["memory_ids"], row
    assert fact_ids & set(str(row["memory_ids"]).split(",")), (fact_ids, row["memory_ids"])

    body = _codex_asks(codex_bin, gw, fake, other, tmp_path / "codex-q")
    assert MARKER not in json.dumps(body), "project Q got project P's memory"
    (row,) = gw.project_rows(other)
    assert not row["memory_ids"], row
    assert not any(MARKER in m["text"] for m in memories(gw, other))
