"""load_settings: the seed config, env references, unknown keys, no file and the defaults."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config.settings import DEFAULT_CONFIG_TEXT, ConfigFile, default_model_list, load_settings
from tests.support.settings_files import load, problems_of

SEED = Path("/work/shared/seed-config.yaml")
SEED_ENV = {
    "DATABASE_URL": "postgres://memproxy:hunter2-db-pw@db.local/memproxy",
    "ANTHROPIC_API_KEY": "sk-ant-seed-0123456789",
    "OPENAI_API_KEY": "sk-openai-seed-0123456789",
    "SUPERMEMORY_API_KEY": "sm-seed-0123456789",
}


# --- the seed config -----------------------------------------------------------------------------


def test_seed_loads_without_its_env_vars(env: dict[str, str]) -> None:
    s = load_settings(config_file=SEED, env=env)
    assert s.config_path == SEED
    assert s.general_settings.master_key == "sk-1234"
    assert [m.model_name for m in s.model_list] == ["claude-sonnet-4.5", "gpt-4"]
    assert not s.defaulted_models
    # missing variables make their keys absent, not empty strings
    assert "api_key" not in s.model_list[0].litellm_params
    assert s.model_list[0].litellm_params["custom_llm_provider"] == "anthropic"
    assert s.context_retrieval.api_key is None
    assert s.tool_execution.supermemory_api_key is None
    assert s.missing_env == ["DATABASE_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "SUPERMEMORY_API_KEY"]
    assert f"{SEED}:6: general_settings.database_url: environment variable DATABASE_URL is not set" in (
        "\n".join(s.warnings)
    )
    assert any(w.startswith(f"{SEED}:19: model_list.1.litellm_params.api_key") for w in s.warnings)
    assert s.secrets == frozenset({"sk-1234"})
    # the rest of the seed, as written
    patterns = s.user_id_mappings.header_patterns
    assert [(p.header, p.pattern, p.user_id) for p in patterns] == [
        ("user-agent", "^OpenAIClientImpl/Java", "secretary-dev"),
        ("user-agent", "^Claude Code", "claude-code-cli"),
    ]
    assert s.user_id_mappings.default_user_id == "default-dev"
    assert s.context_retrieval.enabled_for_models == ["claude-sonnet-4.5"]
    assert s.tool_execution.enabled and s.tool_execution.max_iterations == 10
    assert s.litellm_settings["success_callback"] == ["postgres", "otel"]
    assert s.litellm_settings["drop_params"] is True


def test_seed_loads_with_its_env_vars(env: dict[str, str]) -> None:
    s = load_settings(config_file=SEED, env={**env, **SEED_ENV})
    assert s.missing_env == []
    assert s.model_list[0].litellm_params["api_key"] == SEED_ENV["ANTHROPIC_API_KEY"]
    assert s.model_list[1].litellm_params["api_key"] == SEED_ENV["OPENAI_API_KEY"]
    assert s.context_retrieval.api_key == s.tool_execution.supermemory_api_key == SEED_ENV["SUPERMEMORY_API_KEY"]
    # database_url is not memproxy's: kept, and warned about once with its line
    assert s.general_settings.model_extra == {"database_url": SEED_ENV["DATABASE_URL"]}
    assert s.warnings == [f"{SEED}:6: unknown key general_settings.database_url (kept, ignored)"]
    assert s.secrets == frozenset(
        {
            "sk-1234",
            SEED_ENV["ANTHROPIC_API_KEY"],
            SEED_ENV["OPENAI_API_KEY"],
            SEED_ENV["SUPERMEMORY_API_KEY"],
        }
    )


def test_seed_masked_dict_hides_every_secret(env: dict[str, str]) -> None:
    s = load_settings(config_file=SEED, env={**env, **SEED_ENV})
    dumped = json.dumps(s.masked_dict())
    for secret in [*s.secrets, "hunter2-db-pw"]:
        assert secret not in dumped
    data = s.masked_dict()
    assert data["general_settings"]["master_key"] == "****"
    assert data["model_list"][1]["litellm_params"]["api_key"] == "sk-…89"
    assert data["general_settings"]["database_url"] == "postgres://memproxy:****@db.local/memproxy"
    assert data["model_list"][1]["litellm_params"]["model"] == "openai/gpt-4"


# --- env references -------------------------------------------------------------------------------


def test_env_refs_resolve_at_any_depth_and_stay_strings(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
general_settings:
  master_key: os.environ/MK
  allowed_origins:
    - os.environ/ORIGIN
    - http://localhost:3000
model_list:
  - model_name: m
    litellm_params:
      model: os.environ/MODEL
      extra_headers:
        x-token: os.environ/DIGITS
"""
    s = load(
        tmp_path,
        {**env, "MK": "mk-from-env", "ORIGIN": "http://a", "MODEL": "openai/x", "DIGITS": "0123"},
        text,
    )
    assert s.general_settings.master_key == "mk-from-env"
    assert s.general_settings.allowed_origins == ["http://a", "http://localhost:3000"]
    assert s.model_list[0].litellm_params == {"model": "openai/x", "extra_headers": {"x-token": "0123"}}
    assert s.missing_env == [] and s.warnings == []


def test_missing_env_is_absent_so_the_default_applies(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
general_settings:
  port: os.environ/MEMPROXY_TEST_PORT
  allowed_origins:
    - os.environ/NOPE_ORIGIN
    - http://kept
"""
    s = load(tmp_path, env, text)
    assert s.general_settings.port == 8764
    assert s.general_settings.allowed_origins == ["http://kept"]
    assert s.missing_env == ["MEMPROXY_TEST_PORT", "NOPE_ORIGIN"]
    assert s.warnings[0].endswith(
        "config.yaml:2: general_settings.port: environment variable MEMPROXY_TEST_PORT is not set (treated as absent)"
    )
    assert ":4: general_settings.allowed_origins.0: environment variable NOPE_ORIGIN" in s.warnings[1]
    assert load(tmp_path, {**env, "MEMPROXY_TEST_PORT": "9001"}, text).general_settings.port == 9001


def test_missing_env_for_a_required_key_names_the_variable(tmp_path: Path, env: dict[str, str]) -> None:
    text = "model_list:\n  - model_name: m\n    litellm_params:\n      api_key: k\n  - model_name: n\n"
    text += "    litellm_params: {model: openai/n}\n  - model_name: os.environ/UNSET_NAME\n"
    text += "    litellm_params: {model: openai/o}\n"
    problems = problems_of(tmp_path, env, text)
    assert any(
        p.endswith("config.yaml:7: model_list.2.model_name: Field required (os.environ/UNSET_NAME is not set)")
        for p in problems
    )
    assert any("config.yaml:3: model_list.0.litellm_params: litellm_params needs a `model`" in p for p in problems)


# --- unknown keys ---------------------------------------------------------------------------------


def test_unknown_keys_are_kept_and_warned_with_their_line(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
general_settings:
  port: 9000
  database_url: postgres://x
model_list:
  - model_name: m
    litellm_params: {model: openai/m, anything: goes}
    tpm: 1000
user_id_mappings:
  header_patterns:
    - header: user-agent
      pattern: ^curl
      user_id: curl
      priority: 1
future_section:
  x: 1
litellm_settings:
  whatever_litellm_knows: true
"""
    s = load(tmp_path, env, text)
    tail = [w.split("config.yaml:", 1)[1] for w in s.warnings]
    assert tail == [
        "3: unknown key general_settings.database_url (kept, ignored)",
        "7: unknown key model_list.0.tpm (kept, ignored)",
        "13: unknown key user_id_mappings.header_patterns.0.priority (kept, ignored)",
        "14: unknown key future_section (kept, ignored)",
    ]
    assert s.file.model_extra == {"future_section": {"x": 1}}
    assert s.model_list[0].model_extra == {"tpm": 1000}
    assert s.litellm_settings == {"whatever_litellm_knows": True}


def test_duplicate_keys_are_warned(tmp_path: Path, env: dict[str, str]) -> None:
    s = load(tmp_path, env, "general_settings:\n  port: 9000\n  port: 9001\n")
    assert s.general_settings.port == 9001
    assert s.warnings == [f"{tmp_path / 'config.yaml'}:3: duplicate key general_settings.port (the last one wins)"]


# --- no file, defaults -----------------------------------------------------------------------------


def test_no_file_gives_wildcard_routes_without_keys(env: dict[str, str], memproxy_home: Path) -> None:
    s = load_settings(env=env)
    assert s.config_path is None and s.paths.config_file == memproxy_home / "config.yaml"
    assert s.defaulted_models and s.warnings == [] and s.secrets == frozenset()
    routes = {m.model_name: m.litellm_params for m in s.model_list}
    assert routes == {
        "gpt-*": {"model": "openai/gpt-*"},
        "o1*": {"model": "openai/o1*"},
        "o3*": {"model": "openai/o3*"},
        "o4*": {"model": "openai/o4*"},
        "chatgpt-*": {"model": "openai/chatgpt-*"},
        "text-embedding-*": {"model": "openai/text-embedding-*"},
        "claude-*": {"model": "anthropic/claude-*"},
        "gemini-*": {"model": "gemini/gemini-*"},
    }
    assert s.general_settings.port == 8764 and s.general_settings.host == "127.0.0.1"
    assert s.context_retrieval.enabled and s.context_retrieval.backend == "local"
    assert s.logging.store_prompts


def test_default_model_list_takes_keys_from_env() -> None:
    env = {
        "OPENAI_API_KEY": "sk-o",
        "GOOGLE_API_KEY": "g-key",
        "MISTRAL_API_KEY": "m-key",
        "GROQ_API_KEY": "gq-key",
        "XAI_API_KEY": "",  # set but empty counts as unset
    }
    routes = {m.model_name: m.litellm_params for m in default_model_list(env)}
    assert routes["gpt-*"] == {"model": "openai/gpt-*", "api_key": "sk-o"}
    assert routes["o3*"]["api_key"] == "sk-o"
    assert routes["claude-*"] == {"model": "anthropic/claude-*"}
    assert routes["gemini-*"] == {"model": "gemini/gemini-*", "api_key": "g-key"}
    assert routes["mistral-*"] == {"model": "mistral/mistral-*", "api_key": "m-key"}
    assert routes["codestral-*"] == {"model": "mistral/codestral-*", "api_key": "m-key"}
    assert routes["groq/*"] == {"model": "groq/*", "api_key": "gq-key"}
    assert not {"grok-*", "deepseek-*", "openrouter/*"} & routes.keys()
    assert default_model_list({"GEMINI_API_KEY": "gem", "GOOGLE_API_KEY": "g"})[7].litellm_params["api_key"] == "gem"


def test_default_routes_keys_become_secrets(env: dict[str, str]) -> None:
    s = load_settings(env={**env, "ANTHROPIC_API_KEY": "sk-ant-from-env-123"})
    assert s.secrets == frozenset({"sk-ant-from-env-123"})
    assert "sk-ant-from-env-123" not in json.dumps(s.masked_dict())


def test_a_file_without_models_uses_the_default_routes(tmp_path: Path, env: dict[str, str]) -> None:
    for text in ("", "model_list:\n", "model_list: []\n", "general_settings:\n  port: 9000\n"):
        s = load(tmp_path, env, text)
        assert s.defaulted_models and s.model_list[0].model_name == "gpt-*", text


def test_default_config_text_loads_and_states_the_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    s = load(tmp_path, env, DEFAULT_CONFIG_TEXT)
    assert s.warnings == [] and s.missing_env == [] and s.defaulted_models
    assert s.file == ConfigFile(model_list=default_model_list(env))
    # every section is in the text, so a user sees where each key goes
    for section in ConfigFile.model_fields:
        assert f"\n{section}:" in DEFAULT_CONFIG_TEXT
