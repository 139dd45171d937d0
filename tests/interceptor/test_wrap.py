"""Wrapping a command: SPEC's environment, exit codes, signals passed on, the default project."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interceptor.wrap import (
    GEMINI_SETTINGS,
    CommandFailed,
    command_client,
    default_project,
    exit_code,
    project_name_from,
    run_wrapped,
    wrapped_command,
    wrapped_env,
)

REPO = Path(__file__).resolve().parents[2]


def test_wrapped_env_points_everything_at_the_port() -> None:
    env = wrapped_env({"PATH": "/bin", "OPENAI_BASE_URL": "https://api.openai.com/v1"}, 8801, "shop")
    assert env == {
        "PATH": "/bin",
        "OPENAI_BASE_URL": "http://127.0.0.1:8801/v1",
        "OPENAI_API_BASE": "http://127.0.0.1:8801/v1",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8801",
        "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8801",
        "MEMPROXY_PROJECT": "shop",
        "MEMPROXY_URL": "http://127.0.0.1:8801",
        "OPENAI_API_KEY": "memproxy",
        "ANTHROPIC_API_KEY": "memproxy",
        "GEMINI_API_KEY": "memproxy",
        "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(GEMINI_SETTINGS),
    }


def test_gemini_cli_gets_api_key_auth_from_a_settings_layer_the_user_can_override() -> None:
    """gemini-cli 0.61 refuses the auth type it infers from GOOGLE_GEMINI_BASE_URL; the lowest
    settings layer selects the API-key type instead (the user's own settings still win)."""
    assert json.loads(GEMINI_SETTINGS.read_text()) == {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    # gemini-cli skips a settings file in a folder others can write to
    assert not GEMINI_SETTINGS.parent.stat().st_mode & 0o022
    mine = wrapped_env({"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": "/etc/mine.json", "GEMINI_API_KEY": "AIza-real"}, 1, "p")
    assert (mine["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"], mine["GEMINI_API_KEY"]) == ("/etc/mine.json", "AIza-real")


def test_a_named_client_travels_in_every_base_url_but_not_in_memproxy_url() -> None:
    env = wrapped_env({}, 8801, "shop", "aider")
    tool = "http://127.0.0.1:8801/client/aider"
    assert (env["OPENAI_BASE_URL"], env["OPENAI_API_BASE"]) == (f"{tool}/v1", f"{tool}/v1")
    assert env["ANTHROPIC_BASE_URL"] == env["GOOGLE_GEMINI_BASE_URL"] == tool
    assert env["MEMPROXY_URL"] == "http://127.0.0.1:8801"  # the project's port itself


@pytest.mark.parametrize(
    ("cmd", "client"),
    [
        (["aider", "--model", "gpt-4o"], "aider"),
        (["/usr/local/bin/claude", "-p", "hi"], "claude"),
        (["codex", "exec", "hi"], "codex"),
        (["python3", "tools/summarise.py", "-v"], "summarise"),
        (["/usr/bin/python3.12", "-u", "./my_agent.py"], "my_agent"),
        (["python", "-m", "llm", "prompt"], "llm"),
        (["python", "-c", "print(1)"], "python"),
        (["node", "dist/cli.mjs"], "cli"),
        (["uv", "run", "aider"], "aider"),
        (["uvx", "--from", "aider-chat", "aider"], "aider-chat"),
        (["npx", "-y", "@google/gemini-cli"], "gemini-cli"),
        (["npx", "opencode-ai@latest"], "opencode-ai"),
        (["env", "FOO=1", "claude"], "claude"),
        (["uv", "pip", "list"], "uv"),
        (["bash"], None),
        (["zsh", "-c", "aider"], None),
        ([], None),
    ],
)
def test_command_client_names_the_tool_a_command_runs(cmd: list[str], client: str | None) -> None:
    assert command_client(cmd) == client


def test_wrapped_env_keeps_keys_the_user_set() -> None:
    env = wrapped_env({"OPENAI_API_KEY": "sk-mine", "ANTHROPIC_API_KEY": ""}, 8801, "shop")
    assert env["OPENAI_API_KEY"] == "sk-mine"
    assert env["ANTHROPIC_API_KEY"] == "memproxy"


def test_wrapped_env_sets_the_port_token_as_every_key() -> None:
    user = {"OPENAI_API_KEY": "sk-mine", "ANTHROPIC_AUTH_TOKEN": "at-mine", "GOOGLE_API_KEY": "g-mine"}
    env = wrapped_env(user, 8801, "shop", key="mpt-token")
    names = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GOOGLE_API_KEY")
    assert {name: env[name] for name in names} == dict.fromkeys(names, "mpt-token")
    assert "GOOGLE_API_KEY" not in wrapped_env({}, 8801, "shop", key="mpt-token")  # set only where the user had it


def test_exit_codes() -> None:
    assert run_wrapped([sys.executable, "-c", "raise SystemExit(3)"], os.environ) == 3
    assert run_wrapped([sys.executable, "-c", "pass"], os.environ) == 0
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert run_wrapped([sys.executable, "-c", killed], os.environ) == 128 + signal.SIGKILL
    assert exit_code(-15) == 143


def test_the_child_sees_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "env"
    env = "os.environ['MEMPROXY_PROJECT'] + ' ' + os.environ['OPENAI_BASE_URL']"
    code = f"import os; open({str(out)!r}, 'w').write({env})"
    assert run_wrapped([sys.executable, "-c", code], wrapped_env(os.environ, 8802, "blog")) == 0
    assert out.read_text() == "blog http://127.0.0.1:8802/v1"


def test_missing_command_is_127_and_unrunnable_126(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed, match="command not found: no-such-tool-xyz") as info:
        run_wrapped(["no-such-tool-xyz", "--flag"], os.environ)
    assert info.value.exit_code == 127
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")  # not executable
    with pytest.raises(CommandFailed, match="permission denied") as info:
        run_wrapped([str(script)], os.environ)
    assert info.value.exit_code == 126


_PARENT = """
import os, sys
from interceptor.wrap import run_wrapped
child = '''
import signal, sys, time, pathlib
signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
signal.signal(signal.SIGINT, lambda *a: sys.exit(43))
pathlib.Path(sys.argv[1]).touch()
time.sleep(30)
sys.exit(1)
'''
sys.exit(run_wrapped([sys.executable, "-c", child, sys.argv[1]], os.environ))
"""


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGTERM, 42), (signal.SIGINT, 43)])
def test_signals_reach_the_child(tmp_path: Path, sig: signal.Signals, expected: int) -> None:
    ready = tmp_path / "ready"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(ready)], cwd=REPO, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert time.monotonic() < deadline and parent.poll() is None, "child never started"
        time.sleep(0.01)
    parent.send_signal(sig)  # to memproxy only, not its process group
    assert parent.wait(timeout=10) == expected


def test_default_project_is_the_git_top_folder(tmp_path: Path) -> None:
    repo = tmp_path / "my shop!"
    (repo / ".git").mkdir(parents=True)
    deep = repo / "src" / "pkg"
    deep.mkdir(parents=True)
    assert default_project(deep) == "my-shop"
    assert default_project(repo) == "my-shop"


def test_default_project_in_a_worktree_and_without_git(tmp_path: Path) -> None:
    worktree = tmp_path / "feature.x"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    assert default_project(worktree) == "feature.x"
    plain = tmp_path / "notes"
    plain.mkdir()
    # tmp_path has no .git above it (pytest's base temp is outside any repository)
    assert default_project(plain) == "notes"


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("shop", "shop"),
        ("My App (v2)", "My-App-v2"),
        (".dotfiles", "dotfiles"),
        ("..", "default"),
        ("a..b", "a.b"),
        ("日本語", "default"),
        ("x" * 200, "x" * 64),
        ("-lead-", "lead"),
    ],
)
def test_project_name_from_folder(folder: str, name: str) -> None:
    assert project_name_from(folder) == name


def test_codex_gets_a_provider_for_the_port_because_it_ignores_openai_base_url() -> None:
    cmd = wrapped_command(["/usr/local/bin/codex", "exec", "say hi"], 8800, "shop")
    assert cmd[0] == "/usr/local/bin/codex" and cmd[-2:] == ["exec", "say hi"]
    overrides = dict(arg.split("=", 1) for arg in cmd[2:-2:2])
    assert cmd[1:-2:2] == ["-c"] * 5
    assert overrides == {
        "model_provider": '"memproxy"',
        "model_providers.memproxy.name": '"memproxy (shop)"',
        "model_providers.memproxy.base_url": '"http://127.0.0.1:8800/v1"',
        "model_providers.memproxy.wire_api": '"responses"',
        "model_providers.memproxy.env_key": '"OPENAI_API_KEY"',
    }


def test_codex_names_itself_in_its_providers_base_url() -> None:
    cmd = wrapped_command(["codex", "exec", "hi"], 8800, "shop", "codex")
    assert 'model_providers.memproxy.base_url="http://127.0.0.1:8800/client/codex/v1"' in cmd


@pytest.mark.parametrize(
    "cmd",
    [
        ["claude", "-p", "hi"],
        ["aider", "--model", "codex"],
        ["codex", "-c", "model_provider=mine", "exec", "hi"],
        [],
    ],
)
def test_other_commands_and_a_users_own_codex_provider_are_left_alone(cmd: list[str]) -> None:
    assert wrapped_command(cmd, 8800, "shop") == cmd
