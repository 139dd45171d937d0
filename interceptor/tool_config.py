"""What `intercept` adds for tools that do not take a base URL from the environment: opencode and llm.

Both know only the models they are told of, so each is given every model the project's port lists
(`GET /v1/models`), as a `memproxy` provider for opencode and as OpenAI-compatible models for llm.
The user's own configuration is read, kept and never written to.

- **opencode** reads `OPENCODE_CONFIG_CONTENT` (inline JSON, merged over its config files): a
  `memproxy` provider (`@ai-sdk/openai-compatible`, bundled with opencode) whose `baseURL` is the
  port, so `opencode run -m memproxy/<model>` reaches it over Chat Completions.
- **llm** reads OpenAI-compatible models only from `extra-openai-models.yaml` in its user directory.
  `LLM_USER_PATH` points to a folder memproxy keeps per project: the user's own files linked in (keys,
  logs, templates, aliases stay the user's), plus `extra-openai-models.yaml` with the user's models
  and the port's, so `llm -m <model>` reaches the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from interceptor.wrap import GEMINI_SETTINGS, client_url

OPENCODE_PROVIDER = "memproxy"
OPENCODE_CLIENTS = frozenset({"opencode", "opencode-ai"})
LLM_MODELS_FILE = "extra-openai-models.yaml"
# files llm creates in its user directory when they are missing: linked even then, so they are
# created in the user's directory, not in memproxy's folder
LLM_OWN_FILES = (
    "logs.db",
    "keys.json",
    "aliases.json",
    "default_model.txt",
    "default_embedding_model.txt",
    "embeddings.db",
)
MODELS_TIMEOUT_S = 5.0


def gateway_models(base_url: str, timeout: float = MODELS_TIMEOUT_S) -> list[str]:
    """The model names the port at `base_url` lists (`GET /v1/models`); none when it does not answer."""
    try:
        with urllib.request.urlopen(f"{base_url}/v1/models", timeout=timeout) as response:
            listed = json.load(response).get("data", [])
    except (OSError, ValueError, AttributeError):
        return []
    names = (entry.get("id") for entry in listed if isinstance(entry, dict))
    return sorted({name for name in names if isinstance(name, str) and name and "*" not in name})


def opencode_config(url: str, project: str, models: Sequence[str], existing: str | None = None) -> str:
    """OPENCODE_CONFIG_CONTENT: `existing` (the user's own, kept) plus a `memproxy` provider for `models`.

    A `memproxy` provider the user declared wins; its models are added to, not replaced.
    """
    try:
        config: dict[str, Any] = json.loads(existing) if existing else {}
    except ValueError:
        config = {}
    if not isinstance(config, dict):
        config = {}
    providers = config.setdefault("provider", {})
    if not isinstance(providers, dict):
        return json.dumps(config)
    mine: dict[str, Any] = {
        "npm": "@ai-sdk/openai-compatible",
        "name": f"memproxy ({project})",
        "options": {"baseURL": f"{url}/v1", "apiKey": "{env:OPENAI_API_KEY}"},
        "models": {name: {"name": name} for name in models},
    }
    theirs = providers.get(OPENCODE_PROVIDER)
    if isinstance(theirs, dict):
        mine["options"] = {**mine["options"], **(theirs.get("options") or {})}
        mine["models"] = {**mine["models"], **(theirs.get("models") or {})}
        mine = {**mine, **{k: v for k, v in theirs.items() if k not in ("options", "models")}}
    providers[OPENCODE_PROVIDER] = mine
    return json.dumps(config)


def llm_user_dir(env: Mapping[str, str]) -> Path:
    """llm's user directory for `env`, found as llm finds it (`LLM_USER_PATH`, else click's app dir)."""
    if env.get("LLM_USER_PATH"):
        return Path(env["LLM_USER_PATH"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "io.datasette.llm"
    if sys.platform == "win32":
        return Path(env.get("APPDATA") or home) / "io.datasette.llm"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "io.datasette.llm"


def llm_models(url: str, models: Sequence[str], existing: object) -> list[Any]:
    """extra-openai-models.yaml's entries: the user's `existing` ones, then one per port model they lack."""
    entries = [entry for entry in existing if isinstance(entry, dict)] if isinstance(existing, list) else []
    taken = {entry.get("model_id") for entry in entries}
    for name in models:
        if name not in taken:
            # api_key_name: a key llm has none of, so it falls back to OPENAI_API_KEY (the placeholder)
            entries.append({"model_id": name, "model_name": name, "api_base": f"{url}/v1", "api_key_name": "memproxy"})
    return entries


def prepare_llm_dir(user_dir: Path, folder: Path, url: str, models: Sequence[str]) -> None:
    """Lay out `folder` as llm's user directory: `user_dir`'s entries linked in, the port's models added."""
    user_dir.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    names = ({entry.name for entry in user_dir.iterdir()} | set(LLM_OWN_FILES)) - {LLM_MODELS_FILE}
    for entry in folder.iterdir():  # links the user's folder no longer has
        if entry.is_symlink() and entry.name not in names:
            entry.unlink()
    for name in sorted(names):
        link, target = folder / name, user_dir / name
        if link.is_symlink() and link.readlink() == target:
            continue
        if link.is_symlink():
            link.unlink()
        with contextlib.suppress(FileExistsError):  # another run of this project laid it out meanwhile
            link.symlink_to(target)
    own = user_dir / LLM_MODELS_FILE
    try:
        existing = yaml.safe_load(own.read_text()) if own.is_file() else None
    except (OSError, yaml.YAMLError):
        existing = None
    written = folder / f".{LLM_MODELS_FILE}.{os.getpid()}"
    written.write_text(yaml.safe_dump(llm_models(url, models, existing), sort_keys=False))
    written.replace(folder / LLM_MODELS_FILE)  # whole, even for an llm of another run reading it now


def tool_env(env: Mapping[str, str], port: int, project: str, client: str | None, state_dir: Path) -> dict[str, str]:
    """The variables `client` needs, beyond `wrapped_env`'s, to reach `port` with every model it lists."""
    url = client_url(port, client)
    if client in OPENCODE_CLIENTS:
        models = gateway_models(client_url(port, None))
        return {"OPENCODE_CONFIG_CONTENT": opencode_config(url, project, models, env.get("OPENCODE_CONFIG_CONTENT"))}
    if client == "llm":
        folder = state_dir / "llm" / project
        user_dir = llm_user_dir(env)
        if user_dir.resolve() == folder.resolve():  # run inside another intercept: already laid out
            return {}
        try:
            prepare_llm_dir(user_dir, folder, url, gateway_models(client_url(port, None)))
        except OSError:
            return {}  # llm then runs with the user's own directory: OpenAI's names still reach the port
        return {"LLM_USER_PATH": str(folder)}
    if client is not None and client.startswith("gemini"):
        return gemini_settings(env, state_dir)
    return {}


def gemini_trusts(path: Path) -> bool:
    """Whether gemini-cli reads a settings file at `path`: no folder above it writable by group or others."""
    return not any(folder.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH) for folder in path.resolve().parents)


def gemini_settings(env: Mapping[str, str], state_dir: Path) -> dict[str, str]:
    """memproxy's gemini-cli settings where gemini-cli will read them.

    gemini-cli skips a system settings file below a folder others can write to (a package installed or
    cloned under /tmp): then a copy goes into memproxy's own state folder. A path the user set wins."""
    if env.get("GEMINI_CLI_SYSTEM_DEFAULTS_PATH") != str(GEMINI_SETTINGS) or gemini_trusts(GEMINI_SETTINGS):
        return {}
    copy = state_dir / "gemini" / GEMINI_SETTINGS.name
    try:
        copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(GEMINI_SETTINGS, copy)
    except OSError:
        return {}
    return {"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(copy)} if gemini_trusts(copy) else {}
