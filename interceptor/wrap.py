"""Running a tool with its environment pointed at a project's interceptor port.

`memproxy intercept -- CMD` behaves like CMD itself: same terminal, same exit code, and the
signals memproxy receives reach CMD.

CMD's base URLs also say which tool it is: `http://127.0.0.1:P/client/aider/v1`. The project port
takes `/client/aider` off the path and tells the gateway (`x-memproxy-client`), so a port shared by
several tools at once still attributes each request to the one that made it: the name travels with
the tool's own requests, not with the port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from daemon.errors import CommandFailed
from daemon.identity import CLIENT_PATH, DEFAULT_PROJECT, client_label, validate_project_name

# The gateway recognises this key as "none given" and never forwards it to a provider.
PLACEHOLDER_KEY = "memproxy"
# gemini-cli's lowest settings layer (below the user's own ~/.gemini/settings.json), selecting its
# API-key auth. gemini-cli 0.61 infers a "gateway" auth type from GOOGLE_GEMINI_BASE_URL and then
# refuses to start with it ("Invalid auth method selected", exit 41; google-gemini/gemini-cli#27550);
# an auth type chosen in settings comes first, and the API-key type honours the base URL too.
GEMINI_SETTINGS = Path(__file__).with_name("gemini_settings.json")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def project_name_from(folder_name: str) -> str:
    """A valid project name made from a folder name ('My App!' -> 'My-App')."""
    name = _INVALID_CHARS.sub("-", folder_name)
    name = re.sub(r"\.{2,}", ".", name)[:64].strip("-._")
    return validate_project_name(name) if name else DEFAULT_PROJECT


def default_project(cwd: Path) -> str:
    """The project of `cwd`: its git repository's folder name, else its own folder name."""
    cwd = cwd.resolve()
    # `.git` is a folder in a clone, a file in a worktree or submodule; either marks the top.
    top = next((folder for folder in (cwd, *cwd.parents) if (folder / ".git").exists()), cwd)
    return project_name_from(top.name)


# Commands that run other commands: the tool is what they run, not them.
_SHELLS = frozenset({"sh", "bash", "zsh", "fish", "dash", "ksh", "tcsh", "csh", "nu", "pwsh", "xonsh"})
_LAUNCHERS = frozenset({"env", "npx", "bunx", "pnpx", "uvx", "exec", "nohup", "time", "sudo"})
_RUN_VERBS = {"uv": "run", "pipx": "run", "poetry": "run", "pdm": "run", "hatch": "run", "npm": "exec", "pnpm": "dlx"}
_INTERPRETER = re.compile(r"^(python|pypy|node|nodejs|bun|deno|ruby|perl|php)[0-9.]*$")
_SCRIPT_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".sh", ".rb", ".pl", ".php", ".exe")


def command_client(cmd: Sequence[str]) -> str | None:
    """The client name a wrapped command's requests are logged under: the tool it runs.

    `aider --model x` -> `aider`; `python tools/summarise.py` -> `summarise`; `python -m pkg` -> `pkg`;
    `uv run aider` and `npx @google/gemini-cli` -> the tool. A shell (`intercept -- bash`) names no
    one: the tools started in it are known by their User-Agents.
    """
    args, runner = list(cmd), None
    while args:
        head = Path(args[0]).name.lower()
        if head in _SHELLS:
            return None
        if args[1:2] == [_RUN_VERBS.get(head)]:
            args = args[2:]
            continue
        interpreter = _INTERPRETER.match(head) is not None
        if not interpreter and head not in _LAUNCHERS:
            tool = head.split("@", 1)[0]  # npx's `pkg@1.2`
            return client_label(next((tool.removesuffix(s) for s in _SCRIPT_SUFFIXES if tool.endswith(s)), tool))
        runner = runner or head
        if interpreter and args[1:2] == ["-m"] and len(args) > 2:
            return client_label(args[2])
        if interpreter and args[1:2] in (["-c"], ["-e"]):
            break  # code on the command line: the interpreter is all there is to name
        skip = 1  # the launcher's own options and VAR=value settings
        while skip < len(args) and (args[skip].startswith("-") or "=" in args[skip]):
            skip += 1
        args = args[skip:]
    return client_label(runner)


def client_url(port: int, client: str | None) -> str:
    """The base URL a tool is given for `port`: with `/client/<name>` when the tool has a name."""
    url = f"http://127.0.0.1:{port}"
    return f"{url}{CLIENT_PATH}{client}" if client else url


def wrapped_env(
    base_env: Mapping[str, str], port: int, project: str, client: str | None = None, *, key: str | None = None
) -> dict[str, str]:
    """`base_env` plus SPEC's variables pointing every OpenAI/Anthropic/Gemini client at `port` (as `client`).

    `key`: the port token the port requires (`interceptor.auth: token`), set as every SDK's key in
    place of the user's own (which the port would refuse).
    """
    url = client_url(port, client)
    env = dict(base_env)
    env.update(
        {
            "OPENAI_BASE_URL": f"{url}/v1",
            "OPENAI_API_BASE": f"{url}/v1",
            "ANTHROPIC_BASE_URL": url,
            "GOOGLE_GEMINI_BASE_URL": url,
            "MEMPROXY_PROJECT": project,
            "MEMPROXY_URL": client_url(port, None),  # the project's port itself
        }
    )
    # SDKs refuse to start without a key; a real one the user set is kept (the gateway may pass it on).
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        if key is not None:
            env[name] = key
        elif not env.get(name):
            env[name] = PLACEHOLDER_KEY
    if key is not None:
        for name in ("ANTHROPIC_AUTH_TOKEN", "GOOGLE_API_KEY"):  # read before the keys above when set
            if env.get(name):
                env[name] = key
    env.setdefault("GEMINI_CLI_SYSTEM_DEFAULTS_PATH", str(GEMINI_SETTINGS))
    return env


CODEX_PROVIDER = "memproxy"


def wrapped_command(cmd: Sequence[str], port: int, project: str, client: str | None = None) -> list[str]:
    """`cmd`, plus what a tool that does not read the environment needs to reach `port`.

    Codex CLI's built-in OpenAI provider no longer follows OPENAI_BASE_URL (0.169 calls the OpenAI
    API, and tries WebSockets first). A `codex` command gets `-c` overrides that define a provider
    speaking the Responses API to the port, for this run only; the user's config file is untouched,
    and a `model_provider` the user passes wins.
    """
    if not cmd or Path(cmd[0]).name != "codex" or any("model_provider=" in arg for arg in cmd[1:]):
        return list(cmd)
    table = f"model_providers.{CODEX_PROVIDER}"
    overrides = (
        f'model_provider="{CODEX_PROVIDER}"',
        f'{table}.name="memproxy ({project})"',
        f'{table}.base_url="{client_url(port, client)}/v1"',
        f'{table}.wire_api="responses"',
        f'{table}.env_key="OPENAI_API_KEY"',
    )
    return [cmd[0], *(part for override in overrides for part in ("-c", override)), *cmd[1:]]


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: 128+N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def run_wrapped(cmd: Sequence[str], env: Mapping[str, str]) -> int:
    """Run `cmd` in the foreground with `env`, passing SIGINT/SIGTERM/SIGHUP on; its exit code."""
    try:
        child = subprocess.Popen(list(cmd), env=dict(env))
    except FileNotFoundError as exc:
        raise CommandFailed(f"command not found: {cmd[0]}", 127) from exc
    except PermissionError as exc:
        raise CommandFailed(f"cannot run {cmd[0]}: permission denied", 126) from exc
    except OSError as exc:
        raise CommandFailed(f"cannot run {cmd[0]}: {exc.strerror}", 126) from exc

    def forward(signum: int, frame: FrameType | None) -> None:
        # Ctrl-C in a terminal already reached the child (same foreground process group); sending
        # it again would count as a second press (Claude Code exits on the second one).
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        if child.poll() is None:
            child.send_signal(signum)

    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        return exit_code(child.wait())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _in_terminal_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
