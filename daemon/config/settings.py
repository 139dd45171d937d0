"""The one settings object: built once by `load_settings`, passed down to everything else.

Precedence, highest first: flags (`--host`, `--port`, `--config`) > environment (`MEMPROXY_CONFIG`,
`MEMPROXY_HOME`, `os.environ/NAME` references, provider keys for the no-file default) > the config
file > the defaults written on the models below. `load_settings` is the only reader of `os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daemon.config.budgets import BudgetSettings
from daemon.config.file import DEFAULT_CONFIG_TEXT as DEFAULT_CONFIG_TEXT
from daemon.config.file import (
    RawConfig,
    read_config_file,
    sorted_by_line,
    unknown_key_warnings,
    validation_problems,
)
from daemon.config.paths import Paths, resolve_paths
from daemon.config.secrets import collect_secrets, mask_tree
from daemon.config.secrets import mask_secret as mask_secret
from daemon.config.trust import check_trusted
from daemon.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost"})
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
BODY_TIMEOUT_S = 30.0
DEFAULT_MAX_STORED_BYTES = 1024 * 1024  # of a request body and of an answer, each (daemon/gateway/stored.py)


class _Section(BaseModel):
    # Unknown keys are kept (and warned about) so a file written for LiteLLM's proxy still loads.
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


class GeneralSettings(_Section):
    master_key: str | None = None
    port: int = Field(default=8764, ge=1, le=65535)
    host: str = "127.0.0.1"
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    # a request body that pauses this long is refused with 400 (a tool that sent less than it declared)
    body_timeout: float = Field(default=BODY_TIMEOUT_S, gt=0)
    allowed_origins: list[str] = Field(default_factory=list)
    # same-dialect requests skip LiteLLM's translation (see daemon/passthrough.py)
    fast_path: bool = True


class ModelEntry(_Section):
    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] | None = None

    @field_validator("litellm_params")
    @classmethod
    def _needs_model(cls, value: dict[str, Any]) -> dict[str, Any]:
        model = value.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("litellm_params needs a `model` (e.g. openai/gpt-4o)")
        return value


class ModelAlias(_Section):
    model: str = Field(min_length=1)
    hidden: bool = False


class RouterSettings(_Section):
    num_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=600.0, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: float = Field(default=30.0, ge=0)
    retry_after: float = Field(default=0.0, ge=0)
    # LiteLLM's aliases: {"claude-opus-4-8": "claude-sonnet-4-5"} or {name: {"model": ..., "hidden": true}}
    model_group_alias: dict[str, str | ModelAlias] = Field(default_factory=dict)

    def resolve_alias(self, model: str) -> str:
        """The model name `model` stands for (itself when it is no alias)."""
        target = self.model_group_alias.get(model)
        if target is None:
            return model
        return target if isinstance(target, str) else target.model

    def listed_aliases(self) -> list[str]:
        """The alias names `/v1/models` shows (not the hidden ones)."""
        return [n for n, t in self.model_group_alias.items() if isinstance(t, str) or not t.hidden]


class HeaderPattern(_Section):
    header: str = Field(min_length=1)
    pattern: str
    user_id: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        import regex  # the engine daemon.identity matches with (it has a timeout)

        try:
            regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class UserIdMappings(_Section):
    custom_header: str = "x-memory-user-id"
    header_patterns: list[HeaderPattern] = Field(default_factory=list)
    default_user_id: str = "default"


class ContextRetrieval(_Section):
    enabled: bool = True
    backend: Literal["local", "supermemory"] = "local"
    api_key: str | None = None
    base_url: str | None = None
    query_strategy: Literal["last_user", "first_user", "all_user", "last_assistant"] = "last_user"
    injection_strategy: Literal["system", "user_prefix", "user_suffix"] = "user_suffix"
    max_context_length: int = Field(default=4000, ge=0)
    max_results: int = Field(default=5, ge=0)
    enabled_for_models: list[str] = Field(default_factory=list)
    capture: bool = True
    scope: Literal["project", "user", "project_user"] = "project"
    timeout: float = Field(default=2.0, gt=0)
    # a memory must hold this share of the query's search terms (local backend; 0: any shared word)
    min_match_ratio: float = Field(default=0.2, ge=0, le=1)
    # captured memories kept per scope (oldest out first) and for how long (None: no limit); both backends
    max_memories_per_scope: int | None = Field(default=2000, ge=1)
    retention_days: int | None = Field(default=None, ge=1)
    # semantic retrieval (local backend): a model_name from model_list served on /v1/embeddings; None: words only
    embedding_model: str | None = None
    # the cosine similarity a memory needs to be recalled by meaning (daemon/memory/semantic.py); the
    # default is set for all-MiniLM-L6-v2 by benchmarks/memory_eval.py: other models want their own
    min_similarity: float = Field(default=0.25, ge=-1, le=1)


class ToolExecution(_Section):
    enabled: bool = False
    max_iterations: int = Field(default=10, ge=1)
    timeout_per_tool: float = Field(default=30.0, gt=0)
    supermemory_api_key: str | None = None


class InterceptorSettings(_Section):
    port_range: tuple[int, int] = (8800, 8899)
    # "token": project ports serve only requests presenting the owner's port token (interceptor/port_token.py)
    auth: Literal["none", "token"] = "none"

    @field_validator("port_range")
    @classmethod
    def _sane_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1024 <= low <= high <= 65535:
            raise ValueError("port_range must be [low, high] with 1024 <= low <= high <= 65535")
        return value


class LoggingSettings(_Section):
    store_prompts: bool = True
    # a longer body or answer is stored cut, with a marker giving its size; 0 stores neither
    max_stored_bytes: int = Field(default=DEFAULT_MAX_STORED_BYTES, ge=0)
    retention_days: int | None = Field(default=None, ge=1)
    level: str = "info"
    # daemon.log rotates at this size, keeping this many old files (daemon.log.1 ... .N)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    backups: int = Field(default=5, ge=1)
    # OpenTelemetry traces go here; OTEL_EXPORTER_OTLP_ENDPOINT in the environment wins
    otel_endpoint: str | None = None

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"level must be one of {', '.join(LOG_LEVELS)}")
        return level


class ConfigFile(_Section):
    """The whole config.yaml."""

    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    model_list: list[ModelEntry] = Field(default_factory=list)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    user_id_mappings: UserIdMappings = Field(default_factory=UserIdMappings)
    context_retrieval: ContextRetrieval = Field(default_factory=ContextRetrieval)
    tool_execution: ToolExecution = Field(default_factory=ToolExecution)
    interceptor: InterceptorSettings = Field(default_factory=InterceptorSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)

    @model_validator(mode="after")
    def _embedding_model_listed(self) -> ConfigFile:
        wanted = self.context_retrieval.embedding_model
        if wanted is not None and wanted not in {entry.model_name for entry in self.model_list}:
            names = ", ".join(entry.model_name for entry in self.model_list) or "none configured"
            raise ValueError(f"context_retrieval.embedding_model '{wanted}' is no model_name in model_list ({names})")
        return self


# eq=False: the one settings object compares and hashes by identity (usable as a cache key).
@dataclass(frozen=True, eq=False)
class Settings:
    """Everything the daemon and CLI know about configuration, resolved once."""

    file: ConfigFile
    paths: Paths
    config_path: Path | None
    warnings: list[str]
    missing_env: list[str]
    secrets: frozenset[str]
    defaulted_models: bool
    otel_endpoint: str | None = None

    @property
    def general_settings(self) -> GeneralSettings:
        return self.file.general_settings

    @property
    def model_list(self) -> list[ModelEntry]:
        return self.file.model_list

    @property
    def router_settings(self) -> RouterSettings:
        return self.file.router_settings

    @property
    def user_id_mappings(self) -> UserIdMappings:
        return self.file.user_id_mappings

    @property
    def context_retrieval(self) -> ContextRetrieval:
        return self.file.context_retrieval

    @property
    def tool_execution(self) -> ToolExecution:
        return self.file.tool_execution

    @property
    def interceptor(self) -> InterceptorSettings:
        return self.file.interceptor

    @property
    def logging(self) -> LoggingSettings:
        return self.file.logging

    @property
    def litellm_settings(self) -> dict[str, Any]:
        return self.file.litellm_settings

    @property
    def budgets(self) -> BudgetSettings:
        return self.file.budgets

    def masked_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data, every secret masked."""
        masked = mask_tree(self.file.model_dump(mode="json"), self.secrets)
        assert isinstance(masked, dict)
        return masked


# (model_name pattern, LiteLLM model, env vars holding the key (first set wins), always offered?)
# The always-offered routes work without a key here: the gateway passes the client's own key on.
_DEFAULT_ROUTES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("gpt-*", "openai/gpt-*", ("OPENAI_API_KEY",), True),
    ("o1*", "openai/o1*", ("OPENAI_API_KEY",), True),
    ("o3*", "openai/o3*", ("OPENAI_API_KEY",), True),
    ("o4*", "openai/o4*", ("OPENAI_API_KEY",), True),
    ("chatgpt-*", "openai/chatgpt-*", ("OPENAI_API_KEY",), True),
    ("text-embedding-*", "openai/text-embedding-*", ("OPENAI_API_KEY",), True),
    ("claude-*", "anthropic/claude-*", ("ANTHROPIC_API_KEY",), True),
    ("gemini-*", "gemini/gemini-*", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), True),
    ("mistral-*", "mistral/mistral-*", ("MISTRAL_API_KEY",), False),
    ("codestral-*", "mistral/codestral-*", ("MISTRAL_API_KEY",), False),
    ("deepseek-*", "deepseek/deepseek-*", ("DEEPSEEK_API_KEY",), False),
    ("grok-*", "xai/grok-*", ("XAI_API_KEY",), False),
    ("groq/*", "groq/*", ("GROQ_API_KEY",), False),
    ("openrouter/*", "openrouter/*", ("OPENROUTER_API_KEY",), False),
)


def default_model_list(env: Mapping[str, str]) -> list[ModelEntry]:
    """Wildcard routes used when the config names no models, with keys taken from `env`."""
    routes = []
    for pattern, model, key_vars, always in _DEFAULT_ROUTES:
        key = next((env[v] for v in key_vars if env.get(v)), None)
        if key is None and not always:
            continue
        params: dict[str, Any] = {"model": model}
        if key is not None:
            params["api_key"] = key
        routes.append(ModelEntry(model_name=pattern, litellm_params=params))
    return routes


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Build THE settings object (flags > environment > file > defaults); raise ConfigError if unusable."""
    env = dict(os.environ) if env is None else env
    paths = resolve_paths(dict(env), config_file)
    check_trusted(paths)  # before its config file is read: someone else's config could send keys anywhere
    explicit = config_file is not None or bool(env.get("MEMPROXY_CONFIG"))
    path = paths.config_file
    if path.exists():
        raw = read_config_file(path, env)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist (create it with `memproxy config init`)")
    else:
        raw = RawConfig(label=str(path), data={})
    data = _top_level(raw)
    # No models named (no file, no key, or an empty list): the wildcard defaults keep the gateway useful.
    defaulted = data.get("model_list") in (None, [])
    if defaulted:
        data["model_list"] = [m.model_dump() for m in default_model_list(env)]
    try:
        file = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _invalid(raw, sorted_by_line(validation_problems(exc, raw), raw.label)) from exc
    file = _apply_flags(file, raw, host=host, port=port)
    gs = file.general_settings
    if not is_loopback(gs.host) and not gs.master_key:
        origin = f"--host {host}" if host is not None else f"{raw.where(('general_settings', 'host'))}"
        problem = f"{origin}: binding a non-loopback host ({gs.host}) needs general_settings.master_key"
        if host is not None:  # the flag's fault, not the file's: say so without blaming the file
            raise ConfigError(f"{problem} (set it in {raw.label})")
        raise _invalid(raw, [problem])
    if file.interceptor.auth == "token" and not gs.master_key:  # the token guards the project ports only
        why = "else any local user reaches your provider keys through the gateway port"
        where = raw.where(("interceptor", "auth"))
        raise _invalid(raw, [f"{where}: interceptor.auth: token needs general_settings.master_key ({why})"])
    return Settings(
        file=file,
        paths=paths,
        config_path=path if path.exists() else None,
        warnings=sorted_by_line([*raw.warnings, *unknown_key_warnings(file, raw)], raw.label),
        missing_env=list(raw.missing_env),
        secrets=collect_secrets(file),
        defaulted_models=defaulted,
        otel_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or file.logging.otel_endpoint,
    )


def _top_level(raw: RawConfig) -> dict[str, Any]:
    if raw.data is None:  # an empty file
        return {}
    if not isinstance(raw.data, dict):
        kind = type(raw.data).__name__
        raise _invalid(raw, [f"{raw.label}:1: the top level must be a mapping of sections, not a {kind}"])
    # A section whose keys are all commented out parses as null: treat it as absent.
    known = ConfigFile.model_fields
    return {k: v for k, v in raw.data.items() if not (k in known and v is None)}


def _apply_flags(file: ConfigFile, raw: RawConfig, *, host: str | None, port: int | None) -> ConfigFile:
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if not overrides:
        return file
    try:
        gs = GeneralSettings.model_validate({**file.general_settings.model_dump(), **overrides})
    except ValidationError as exc:
        problems = [f"--{e['loc'][0]} {overrides.get(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors()]
        raise _invalid(raw, problems) from exc
    return file.model_copy(update={"general_settings": gs})


def _invalid(raw: RawConfig, problems: list[str]) -> ConfigError:
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return ConfigError(f"{raw.label} is not a valid memproxy config ({count})", problems=problems)


def config_json_schema() -> dict[str, Any]:  # the JSON schema of config.yaml
    return ConfigFile.model_json_schema()
