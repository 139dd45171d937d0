"""The real clients of the compatibility matrix, each run as a user runs it: `memproxy intercept
--project P -- <tool> ...`, so the request goes through P's port with the tool's own habits.

A `Client` knows how to ask one question of one model and returns what the tool printed; the
matrix (tests/e2e/test_matrix.py) checks the answer and the databank row (project, client, model).
Tools from npm and PyPI are installed once into caches under /tmp; a client whose tool cannot be
installed skips its cells with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.daemon import MEMPROXY, Daemon
from tests.support.gemini_cli import settings_path as gemini_settings_path
from tests.support.npm import npm_tool
from tests.support.pypi import pypi_tool

Runner = Callable[[Daemon, str, str, Path], subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Client:
    """One real client: how it is named in the `client` column, and how to run it for one question."""

    name: str
    run: Runner
    # the gateway route its requests arrive on
    endpoint: str
    # models whose requests arrive on another route (the tool picks the API by the model's name)
    endpoints: Mapping[str, str] = field(default_factory=dict)

    def endpoint_for(self, model: str) -> str:
        return self.endpoints.get(model, self.endpoint)


def intercept(
    gw: Daemon, project: str, cmd: list[str], work: Path, timeout: float = 180, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`memproxy intercept --project PROJECT -- CMD` in `work`, with its own HOME and `env` on top."""
    full_env = {
        **gw.env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "NO_COLOR": "1",
        **(env or {}),
    }
    return subprocess.run(
        [str(MEMPROXY), "intercept", "--project", project, "--", *cmd],
        env=full_env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _script(work: Path, name: str, body: str) -> Path:
    path = work / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def _openai_chat(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    script = _script(
        work,
        "openai_chat",
        """
        import sys, openai
        client = openai.OpenAI()
        stream = client.chat.completions.create(
            model=sys.argv[1], messages=[{"role": "user", "content": "say hi"}], stream=True
        )
        print("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
        """,
    )
    return intercept(gw, project, [sys.executable, str(script), model], work)


def _openai_responses(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    script = _script(
        work,
        "openai_responses",
        """
        import sys, openai
        client = openai.OpenAI()
        print(client.responses.create(model=sys.argv[1], input="say hi").output_text)
        """,
    )
    return intercept(gw, project, [sys.executable, str(script), model], work)


def _anthropic(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    script = _script(
        work,
        "anthropic_messages",
        """
        import sys, anthropic
        client = anthropic.Anthropic()
        with client.messages.stream(
            model=sys.argv[1], max_tokens=64, messages=[{"role": "user", "content": "say hi"}]
        ) as stream:
            print(stream.get_final_text())
        """,
    )
    return intercept(gw, project, [sys.executable, str(script), model], work)


CLAUDE_ENV = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def _claude(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    claude = npm_tool("@anthropic-ai/claude-code", Path("/tmp/claude-code"), "claude")
    # Claude Code's own small-model calls (titles, summaries) go to the same model here
    env = {**CLAUDE_ENV, "ANTHROPIC_SMALL_FAST_MODEL": model, "ANTHROPIC_DEFAULT_HAIKU_MODEL": model}
    return intercept(gw, project, [str(claude), "-p", "say hi", "--model", model], work, env=env)


def _codex(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    codex = npm_tool("@openai/codex", Path("/tmp/codex"), "codex")
    (work / "codex").mkdir(exist_ok=True)
    cmd = [str(codex), "exec", "--skip-git-repo-check", "-m", model, "say hi"]
    return intercept(gw, project, cmd, work, env={"CODEX_HOME": str(work / "codex")})


def _gemini(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    gemini = npm_tool("@google/gemini-cli", Path("/tmp/gemini-cli"), "gemini")
    cmd = [str(gemini), "-m", model, "-p", "say hi"]
    env = {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": gemini_settings_path()}
    return intercept(gw, project, cmd, work, env=env)


AIDER_FLAGS = (
    "--yes-always",
    "--no-git",
    "--no-check-update",
    "--no-analytics",
    "--no-show-model-warnings",
    "--no-pretty",
    "--no-fancy-input",
    "--no-detect-urls",
    "--map-tokens",
    "0",
)


def _aider(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    aider = pypi_tool("aider-chat", Path("/tmp/matrix-aider"), "aider")
    # LiteLLM, inside aider, knows Claude and GPT names by their provider; any other name is told
    # its API with a prefix, as aider's docs say (`openai/<name>` for an OpenAI-compatible server)
    name = model if model.startswith(("claude-", "gpt-")) else f"openai/{model}"
    cmd = [str(aider), *AIDER_FLAGS, "--model", name, "--message", "say hi"]
    return intercept(gw, project, cmd, work)


def _llm(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    llm = pypi_tool("llm", Path("/tmp/matrix-llm"), "llm")
    return intercept(gw, project, [str(llm), "-m", model, "say hi"], work)


def _opencode(gw: Daemon, project: str, model: str, work: Path) -> subprocess.CompletedProcess[str]:
    opencode = npm_tool("opencode-ai", Path("/tmp/opencode"), "opencode")
    cmd = [str(opencode), "run", "-m", f"memproxy/{model}", "say hi"]
    return intercept(gw, project, cmd, work, env={"OPENCODE_DISABLE_AUTOUPDATE": "1"})


CLIENTS: dict[str, Client] = {
    "openai-chat": Client("openai_chat", _openai_chat, "/v1/chat/completions"),
    "openai-responses": Client("openai_responses", _openai_responses, "/v1/responses"),
    "anthropic": Client("anthropic_messages", _anthropic, "/v1/messages"),
    "claude-code": Client("claude", _claude, "/v1/messages"),
    "codex": Client("codex", _codex, "/v1/responses"),
    "aider": Client("aider", _aider, "/v1/chat/completions", {"claude-sonnet-4-5": "/v1/messages"}),
    "llm": Client("llm", _llm, "/v1/chat/completions"),
    "opencode": Client("opencode", _opencode, "/v1/chat/completions"),
    "gemini-cli": Client("gemini", _gemini, "/v1beta/models/{model}:streamGenerateContent"),
}
