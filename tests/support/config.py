"""THE gateway config the tests run: gpt-*, claude-* and byok-* routed to the fake upstream.

Every daemon a test starts, in this process or through `memproxy up`, is built from `gateway_config`;
the keys are distinctive, so finding one in a file, a log line or an answer is a leak.
"""

from __future__ import annotations

from tests.support.ports import free_port_range

OPENAI_KEY = "sk-test-CONFIGURED-openai-4f1e9a7c2b"
ANTHROPIC_KEY = "sk-ant-test-CONFIGURED-93d0b6e1aa"
# `extra` for gateway_config: requests from `pytest-agent/*` belong to the user `tester`.
USER_ID_MAPPING = """user_id_mappings:
  header_patterns:
    - {header: user-agent, pattern: "^pytest-agent/", user_id: tester}
"""


def gateway_config(
    upstream_url: str,
    *,
    master_key: str | None = None,
    num_retries: int = 0,
    timeout: float = 3,
    max_body_bytes: int | None = None,
    fast_path: bool = True,
    body_timeout: float | None = None,
    memory: bool | None = None,
    log_level: str | None = None,
    port_range: tuple[int, int] | None = None,
    aliases: str = "",
    extra: str = "",
) -> str:
    """gpt-* → openai/gpt-* at <fake>/v1, claude-* → anthropic/claude-* at <fake> (keys in config),
    the openai ones declared to speak the Responses API as OpenAI does (the fake has it),
    byok-* → openai at <fake>/v1 with no key, declared bring-your-own-key (the client's key is passed on;
    a loopback server with no key declared would get none).

    `memory` None leaves context retrieval at its default; projects get a private `port_range`
    (a random free one unless given), never memproxy's default 8800-8899.
    """
    general = []
    if master_key:
        general.append(f"  master_key: {master_key}")
    if max_body_bytes:
        general.append(f"  max_body_bytes: {max_body_bytes}")
    if not fast_path:
        general.append("  fast_path: false")
    if body_timeout is not None:
        general.append(f"  body_timeout: {body_timeout}")
    text = "general_settings:\n" + "\n".join(general) + "\n" if general else ""
    text += f"""model_list:
  - model_name: "gpt-*"
    litellm_params:
      model: "openai/gpt-*"
      api_base: "{upstream_url}/v1"
      api_key: {OPENAI_KEY}
      use_chat_completions_api: false
  - model_name: "claude-*"
    litellm_params:
      model: "anthropic/claude-*"
      api_base: "{upstream_url}"
      api_key: {ANTHROPIC_KEY}
  - model_name: "byok-*"
    litellm_params:
      model: "openai/byok-*"
      api_base: "{upstream_url}/v1"
      use_chat_completions_api: false
      configurable_clientside_auth_params: [api_key]
router_settings:
  num_retries: {num_retries}
  timeout: {timeout}
"""
    if aliases:
        text += f"  model_group_alias: {aliases}\n"
    if memory is not None:
        text += f"context_retrieval:\n  enabled: {str(memory).lower()}\n"
    if log_level:
        text += f"logging:\n  level: {log_level}\n"
    low, high = port_range or free_port_range()
    text += f"interceptor:\n  port_range: [{low}, {high}]\n"
    return text + extra


def with_local_server(config: str, url: str, *, chat_only: bool | None = None, api_key: str | None = None) -> str:
    """`config` with `local-*` → `openai/local-*` at a local server `url` (a `LocalUpstream`), first in
    the model list, with no key unless `api_key` (a local server takes none); `chat_only` sets the
    deployment's `use_chat_completions_api` (None: memproxy's rule decides).
    """
    lines = [f"      api_key: {api_key}"] if api_key else []
    if chat_only is not None:
        lines.append(f"      use_chat_completions_api: {str(chat_only).lower()}")
    entry = f"""  - model_name: "local-*"
    litellm_params:
      model: "openai/local-*"
      api_base: "{url}/v1"
"""
    return config.replace("model_list:\n", "model_list:\n" + entry + "".join(f"{line}\n" for line in lines), 1)


def with_embedding_model(config: str, url: str, **context_retrieval: object) -> str:
    """`config` with an `embedder` deployment (`openai/embedder` at the embeddings server `url`, no key,
    as a local Ollama or vLLM) first in the model list and named by `context_retrieval.embedding_model`;
    `context_retrieval` adds keys to that section (`config` must not have one)."""
    entry = f"""  - model_name: embedder
    litellm_params:
      model: openai/embedder
      api_base: "{url}"
"""
    keys = {"embedding_model": "embedder", **context_retrieval}
    lines = (f"  {k}: {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in keys.items())
    section = "context_retrieval:\n" + "".join(lines)
    return config.replace("model_list:\n", "model_list:\n" + entry, 1) + section


GEMINI_KEY = "AIza-test-CONFIGURED-gemini-0c5e7d"


def with_gemini(config: str, url: str) -> str:
    """`config` with `gemini-*` → `gemini/gemini-*` on the fake's Gemini API at `url` (its key in the
    config), first in the model list."""
    entry = f"""  - model_name: "gemini-*"
    litellm_params:
      model: "gemini/gemini-*"
      api_base: "{url}/v1beta"
      api_key: {GEMINI_KEY}
"""
    return config.replace("model_list:\n", "model_list:\n" + entry, 1)
