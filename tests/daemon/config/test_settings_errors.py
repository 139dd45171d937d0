"""load_settings refuses a bad config with line-precise errors (and never echoes a secret); loopback and
master-key rules, flags over the file; masking, what counts as a secret, the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.config.settings import ConfigFile, config_json_schema, is_loopback, load_settings, mask_secret
from daemon.errors import ConfigError
from tests.support.settings_files import load, problems_of, write

# --- errors -----------------------------------------------------------------------------------------


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.yaml", env=env)
    with pytest.raises(ConfigError, match=r"missing2\.yaml does not exist"):
        load_settings(env={**env, "MEMPROXY_CONFIG": str(tmp_path / "missing2.yaml")})


def test_memproxy_config_env_picks_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "general_settings:\n  port: 9123\n", "other.yaml")
    s = load_settings(env={**env, "MEMPROXY_CONFIG": str(path)})
    assert s.config_path == path and s.general_settings.port == 9123


def test_bad_type_is_reported_at_its_line(tmp_path: Path, env: dict[str, str]) -> None:
    text = "# comment\n\ngeneral_settings:\n  host: 127.0.0.1\n  port: not-a-port\n"
    text += "router_settings:\n  timeout: -1\n"
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env, text)
    path = tmp_path / "config.yaml"
    assert str(info.value).startswith(f"{path} is not a valid memproxy config (2 problems)")
    assert info.value.problems == [
        f"{path}:5: general_settings.port: Input should be a valid integer, unable to parse string as an "
        "integer (got 'not-a-port')",
        f"{path}:7: router_settings.timeout: Input should be greater than 0 (got -1)",
    ]


def test_error_inside_a_list_points_at_the_item(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
user_id_mappings:
  header_patterns:
    - header: user-agent
      pattern: ^ok
      user_id: a
    - header: user-agent
      pattern: "([unclosed"
      user_id: b
interceptor:
  port_range: [9000, 100]
context_retrieval:
  scope: everyone
"""
    problems = [p.split("config.yaml:", 1)[1] for p in problems_of(tmp_path, env, text)]
    assert problems[0].startswith("7: user_id_mappings.header_patterns.1.pattern: not a valid regular expression")
    assert problems[1].startswith("10: interceptor.port_range: port_range must be [low, high]")
    assert problems[2].startswith("12: context_retrieval.scope: Input should be 'project', 'user' or 'project_user'")


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path, env: dict[str, str]) -> None:
    problems = problems_of(tmp_path, env, "general_settings:\n  master_key: [sk-secret-in-a-list]\n")
    assert problems and "sk-secret" not in "\n".join(problems)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, env: dict[str, str]) -> None:
    text = "general_settings:\n  port: 8764\n  host: 127.0.0.1\n bad: indentation\n"
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env, text)
    assert str(info.value).startswith(f"{tmp_path / 'config.yaml'} is not valid YAML")
    assert info.value.problems[0].startswith(f"{tmp_path / 'config.yaml'}:4: ")


def test_top_level_must_be_a_mapping(tmp_path: Path, env: dict[str, str]) -> None:
    assert problems_of(tmp_path, env, "- a\n- b\n") == [
        f"{tmp_path / 'config.yaml'}:1: the top level must be a mapping of sections, not a list"
    ]


def test_non_loopback_host_needs_a_master_key(tmp_path: Path, env: dict[str, str]) -> None:
    problems = problems_of(tmp_path, env, "general_settings:\n  port: 9000\n  host: 0.0.0.0\n")
    assert problems == [
        f"{tmp_path / 'config.yaml'}:3: binding a non-loopback host (0.0.0.0) needs general_settings.master_key"
    ]
    s = load(tmp_path, env, "general_settings:\n  host: 0.0.0.0\n  master_key: sk-long-enough-key\n")
    assert s.general_settings.host == "0.0.0.0"
    with pytest.raises(ConfigError, match=r"--host 192.168.1.5: binding a non-loopback host"):
        load_settings(env=env, host="192.168.1.5")


def test_port_token_needs_a_master_key(tmp_path: Path, env: dict[str, str]) -> None:
    problems = problems_of(tmp_path, env, "interceptor:\n  auth: token\n")
    assert problems == [
        f"{tmp_path / 'config.yaml'}:2: interceptor.auth: token needs general_settings.master_key (else any "
        "local user reaches your provider keys through the gateway port)"
    ]
    s = load(tmp_path, env, "interceptor:\n  auth: token\ngeneral_settings:\n  master_key: sk-long-enough-key\n")
    assert s.interceptor.auth == "token"


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))


def test_flags_beat_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    s = load(tmp_path, env, "general_settings:\n  port: 9000\n  host: localhost\n", port=9100, host="::1")
    assert (s.general_settings.port, s.general_settings.host) == (9100, "::1")
    with pytest.raises(ConfigError, match="--port 70000: Input should be less than or equal to 65535"):
        load_settings(env=env, port=70000)


def test_port_out_of_range(tmp_path: Path, env: dict[str, str]) -> None:
    problems = problems_of(tmp_path, env, "general_settings:\n  port: 0\n")
    assert problems == [
        f"{tmp_path / 'config.yaml'}:2: general_settings.port: Input should be greater than or equal to 1 (got 0)"
    ]


# --- secrets and schema -------------------------------------------------------------------------


def test_mask_secret() -> None:
    assert mask_secret("sk-1234") == "****"
    assert mask_secret("") == "****"
    assert mask_secret("sk-abcdefghijklmnop") == "sk-…op"


def test_secrets_are_credentials_only(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
model_list:
  - model_name: m
    litellm_params:
      model: bedrock/x
      max_tokens: 1000
      aws_secret_access_key: aws-secret-value
      aws_session_token: aws-session-token
      vertex_credentials: vertex-json-blob
      api_key: abc
"""
    s = load(tmp_path, env, text)
    # "abc" is too short to redact by value without wrecking ordinary log text
    assert s.secrets == frozenset({"aws-secret-value", "aws-session-token", "vertex-json-blob"})
    params = s.masked_dict()["model_list"][0]["litellm_params"]
    assert params["max_tokens"] == 1000 and params["api_key"] == "****"
    assert params["aws_secret_access_key"] == "aws…ue"


def test_json_schema_describes_every_section() -> None:
    schema = config_json_schema()
    assert set(ConfigFile.model_fields) <= set(schema["properties"])
    json.dumps(schema)
