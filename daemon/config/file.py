"""Reading config.yaml: YAML that remembers line numbers, `os.environ/NAME` references, and
error/warning lines that point at the key a user has to fix.

Everything here is pure over its inputs (text, env mapping); `daemon.config.settings` turns the result
into validated models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from daemon.errors import ConfigError

KeyPath = tuple[str | int, ...]

ENV_REF = re.compile(r"^\s*os\.environ/([A-Za-z_][A-Za-z0-9_]*)\s*$")
_STR_TAG = "tag:yaml.org,2002:str"
# Key names whose values must never be echoed back in an error message.
_SECRET_NAME = re.compile(r"(key|secret|token|password|credential)s?$", re.IGNORECASE)


@dataclass
class RawConfig:
    """A config file after YAML parsing and env substitution, before validation."""

    label: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    missing_env: list[str] = field(default_factory=list)
    # Paths removed because their env var is unset: a "field required" there names the var.
    absent: dict[KeyPath, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def where(self, path: KeyPath) -> str:
        """`file:line` of the nearest key on `path` that exists in the file (or just `file`)."""
        line = nearest_line(self.lines, path)
        return f"{self.label}:{line}" if line else self.label


def nearest_line(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its closest ancestor that the file spells out."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def parse_config_text(text: str, label: str, env: Mapping[str, str]) -> RawConfig:
    """Parse YAML `text`, substitute `os.environ/NAME`, and record the line of every key."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        raw = RawConfig(label=label, data=None)
        if node is not None:
            _walk(node, (), env, raw, on_stack=set())
            raw.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{label} is not valid YAML", problems=[_yaml_problem(exc, label)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label} is not valid YAML", problems=[f"{label}: {exc}"]) from exc
    finally:
        loader.dispose()
    return raw


def _yaml_problem(exc: yaml.MarkedYAMLError, label: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}" if mark else label
    problem = exc.problem or exc.context or "cannot be parsed"
    # The parser often notices at the end of the file; where the construct began is the useful hint.
    if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        problem += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return f"{where}: {problem}"


def read_config_file(path: Path, env: Mapping[str, str]) -> RawConfig:
    """Read and parse the config file at `path`."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError as exc:
        raise ConfigError(f"{label} is a directory, not a config file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label} is not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {label}: {exc.strerror or exc}") from exc
    return parse_config_text(text, label, env)


def _env_ref(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
        m = ENV_REF.match(node.value)
        if m:
            return m.group(1)
    return None


def _resolve(node: yaml.Node, path: KeyPath, env: Mapping[str, str], raw: RawConfig) -> yaml.Node | None:
    """The node with its env reference substituted, or None when the variable is unset (drop it)."""
    name = _env_ref(node)
    if name is None:
        return node
    if name in env:
        # A plain string node: the value is used as written, never re-parsed as YAML.
        return yaml.ScalarNode(_STR_TAG, env[name], node.start_mark, node.end_mark)
    if name not in raw.missing_env:
        raw.missing_env.append(name)
    raw.absent[path] = name
    raw.warnings.append(
        f"{raw.label}:{node.start_mark.line + 1}: {dotted(path)}: environment variable {name} "
        "is not set (treated as absent)"
    )
    return None


def _walk(node: yaml.Node, path: KeyPath, env: Mapping[str, str], raw: RawConfig, on_stack: set[int]) -> None:
    """Substitute env references in place and fill `raw.lines`, depth first."""
    if id(node) in on_stack:  # a recursive alias; pydantic will reject the shape anyway
        return
    on_stack.add(id(node))
    if isinstance(node, yaml.MappingNode):
        kept: list[tuple[yaml.Node, yaml.Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
            child = (*path, key)
            if key in seen:
                raw.warnings.append(
                    f"{raw.label}:{key_node.start_mark.line + 1}: duplicate key {dotted(child)} (the last one wins)"
                )
            seen.add(key)
            raw.lines[child] = key_node.start_mark.line + 1
            resolved = _resolve(value_node, child, env, raw)
            if resolved is not None:
                _walk(resolved, child, env, raw, on_stack)
                kept.append((key_node, resolved))
        node.value = kept
    elif isinstance(node, yaml.SequenceNode):
        items: list[yaml.Node] = []
        for item in node.value:
            # Indices are counted after dropped items, as pydantic will see them.
            child = (*path, len(items))
            resolved = _resolve(item, child, env, raw)
            if resolved is not None:
                raw.lines[child] = item.start_mark.line + 1
                _walk(resolved, child, env, raw, on_stack)
                items.append(resolved)
        node.value = items
    on_stack.discard(id(node))


def validation_problems(exc: ValidationError, raw: RawConfig) -> list[str]:
    """One `file:line: dotted.key: reason` line per pydantic error."""
    problems = []
    for err in exc.errors(include_url=False):
        loc: KeyPath = tuple(err["loc"])
        reason = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        value = err.get("input")
        if err["type"] == "missing" and loc in raw.absent:
            reason += f" (os.environ/{raw.absent[loc]} is not set)"
        elif isinstance(value, str | int | float | bool) and not _looks_secret(loc):
            reason += f" (got {value!r})"
        problems.append(f"{raw.where(loc)}: {dotted(loc)}: {reason}")
    return problems


def sorted_by_line(messages: list[str], label: str) -> list[str]:
    """`file:line: ...` messages in file order (stable; messages without a line first)."""

    def line(message: str) -> int:
        head = message.removeprefix(f"{label}:").split(":", 1)[0]
        return int(head) if head.isdigit() else 0

    return sorted(messages, key=line)


def _looks_secret(loc: KeyPath) -> bool:
    return any(isinstance(p, str) and _SECRET_NAME.search(p) for p in loc)


def unknown_key_warnings(model: BaseModel, raw: RawConfig, path: KeyPath = ()) -> list[str]:
    """A warning for every key a model kept but does not know (pydantic `extra="allow"`)."""
    found = [
        f"{raw.where((*path, key))}: unknown key {dotted((*path, key))} (kept, ignored)"
        for key in (model.model_extra or {})
    ]
    for name in type(model).model_fields:
        value = getattr(model, name)
        children = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for index, child in children:
            if isinstance(child, BaseModel):
                sub = (*path, name) if index is None else (*path, name, index)
                found += unknown_key_warnings(child, raw, sub)
    return found


# Written by `memproxy config init`. Values shown uncommented are the defaults; a test keeps
# them equal to the models' defaults, so this text never lies about what an absent key means.
DEFAULT_CONFIG_TEXT = """\
# memproxy configuration. Reference: docs/configuration.md
# Any value may be written as os.environ/NAME to read it from the environment variable NAME;
# if NAME is not set the key counts as absent (its default applies) and memproxy warns.
# Flags (--host, --port) override this file.

general_settings:
  # When set, clients must present it (Authorization: Bearer, x-api-key or x-memproxy-key);
  # interceptors add it for you. Required to bind a host other than loopback.
  # master_key: os.environ/MEMPROXY_MASTER_KEY
  port: 8764              # the gateway's port
  host: 127.0.0.1         # 127.0.0.1, ::1 or localhost unless master_key is set
  max_body_bytes: 33554432  # larger request bodies are answered with 413
  body_timeout: 30        # seconds a request body may pause before it is refused with 400
  allowed_origins: []     # browser origins allowed by CORS (none by default)

# LiteLLM's format. model_name may use * wildcards. While model_list is empty or absent (as here) memproxy
# routes gpt-*, o1*/o3*/o4*, chatgpt-*, text-embedding-*, claude-* and gemini-* (plus mistral-*,
# codestral-*, deepseek-*, grok-*, groq/*, openrouter/* when their key is set) with the
# provider keys from the environment, or the client's own key when there is none.
model_list:
  # - model_name: claude-*                 # a wildcard: any claude-... model the client asks for
  #   litellm_params:
  #     model: anthropic/claude-*
  #     api_key: os.environ/ANTHROPIC_API_KEY
  # - model_name: gpt-4o                   # an exact name
  #   litellm_params:
  #     model: openai/gpt-4o
  #     api_key: os.environ/OPENAI_API_KEY
  # - model_name: local-llama              # any OpenAI-compatible server
  #   litellm_params:
  #     model: openai/llama3.1
  #     api_base: http://127.0.0.1:11434/v1

router_settings:
  num_retries: 2          # retries of a failed upstream call
  timeout: 600.0          # seconds for a whole call
  # stream_timeout: 60.0  # seconds for a streaming call (default: timeout)
  fallbacks: []           # e.g. [{"gpt-4o": ["claude-sonnet-4-5"]}]
  allowed_fails: 3        # failures before a deployment cools down
  cooldown_time: 30.0     # seconds a failing deployment is skipped
  retry_after: 0.0        # minimum seconds between retries

user_id_mappings:
  custom_header: x-memory-user-id   # a client may name its user in this header
  header_patterns: []
  #   - header: user-agent          # else the first rule whose regex matches the header
  #     pattern: "^Claude Code"
  #     user_id: claude-code-cli
  default_user_id: default          # else this

context_retrieval:
  enabled: true
  backend: local          # local (SQLite, nothing to run) or supermemory
  # api_key: os.environ/SUPERMEMORY_API_KEY   # for backend: supermemory
  # base_url: https://api.supermemory.ai
  query_strategy: last_user       # last_user | first_user | all_user | last_assistant
  injection_strategy: user_suffix # user_suffix | user_prefix | system (system: decided once per conversation)
  max_context_length: 4000        # characters of memory injected at most
  max_results: 5
  enabled_for_models: []          # model names that get memory; empty: all
  capture: true                   # store each exchange as memory
  scope: project                  # project | user | project_user
  timeout: 2.0                    # seconds to wait for the memory backend, then go on without
  min_match_ratio: 0.2            # share of the question's words a memory must hold to be injected
  max_memories_per_scope: 2000    # captured memories kept per scope, oldest out first
  # retention_days: 90            # delete captured memories older than this

tool_execution:
  enabled: false          # offer memory search tools to the model and run them in the gateway
  max_iterations: 10
  timeout_per_tool: 30.0
  # supermemory_api_key: os.environ/SUPERMEMORY_API_KEY

interceptor:
  port_range: [8800, 8899]   # ports given to projects
  auth: none                 # token: projects' ports require the port token (a machine shared with others)

logging:
  store_prompts: true     # keep request and response bodies in the databank
  retention_days: null    # delete rows older than this many days; null keeps everything
  level: info             # debug | info | warning | error | critical
  max_bytes: 10485760     # daemon.log rotates at this size (10 MB) ...
  backups: 5              # ... keeping this many old files (daemon.log.1 ... .5)

# Spending limits in USD per local day, week and month (docs/budgets.md); `memproxy budget set` adds its own.
budgets:
  # default: {daily: 20}                          # every project without an entry of its own
  # projects:
  #   shop: {daily: 5, monthly: 60, models: {gpt-4o: {daily: 2}}}
  #   sandbox: {weekly: 2, soft: true}           # soft: alerts only, never refuses
  # thresholds: [50, 80, 100]                     # percent of a limit that alerts, once per period
  # alert_webhook: https://hooks.example/...      # a JSON POST per alert (Slack-style `text`)
  # desktop_notifications: true                   # notify-send / osascript where there is one

# Passed to LiteLLM where memproxy allows it (drop_params, modify_params, request_timeout).
litellm_settings:
  # drop_params: true     # drop parameters a provider does not support instead of failing
"""
