"""Which deployments speak only Chat Completions, so the Anthropic and Responses routes reach them that way.

LiteLLM sends an Anthropic Messages request for an `openai/` deployment, and a Responses request for an
`openai/` or `hosted_vllm/` one, to the upstream's `/v1/responses`. OpenAI has that endpoint; Ollama,
vLLM, LM Studio, llama.cpp and most OpenAI-compatible services do not, and answer 404. LiteLLM's own
per-deployment `litellm_params.use_chat_completions_api: true` sends Responses requests through Chat
Completions instead (LiteLLM translates the request and the answer, streamed or not). For Anthropic
Messages it is not enough: LiteLLM 1.110 still goes Messages → Responses → Chat for an `openai/`
deployment, and that double translation drops the text of every non-streamed answer. So the Router
gets a chat-only `openai/` deployment as `hosted_vllm/` (LiteLLM's provider for OpenAI-compatible
servers: Messages go straight to Chat Completions, model names come back as the server says them,
Anthropic `thinking` becomes `reasoning_effort`). The fast path reads the deployment as configured,
so OpenAI-format chat still goes to the server byte for byte.

The rule, a pure function of one deployment's `litellm_params`:

- `use_chat_completions_api` set (true or false) in the deployment: that decides;
- else an OpenAI-compatible provider (`openai/`, `hosted_vllm/`, `custom_openai/`, `lm_studio/`,
  `ollama_chat/`) is chat-only, except `openai/` at OpenAI itself (no `api_base`, or one on
  `api.openai.com`), which has the Responses API.

It is set on the deployment the Router is built with, never as a LiteLLM global: two deployments of
one model name may differ, and other deployments keep LiteLLM's own choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# LiteLLM's name for the setting, in a deployment's litellm_params
SETTING = "use_chat_completions_api"
OPENAI_COMPATIBLE = frozenset({"openai", "hosted_vllm", "custom_openai", "lm_studio", "ollama_chat"})
_OPENAI_HOST = "api.openai.com"
_BRIDGE = "hosted_vllm"  # what LiteLLM is told a chat-only `openai/` deployment is


def _provider(params: Mapping[str, Any]) -> str:
    declared = params.get("custom_llm_provider")
    if declared:
        return str(declared)
    return str(params.get("model", "")).partition("/")[0]


def _at_openai(api_base: Any) -> bool:
    if not api_base:
        return True
    host = urlsplit(str(api_base)).hostname or ""
    return host == _OPENAI_HOST or host.endswith("." + _OPENAI_HOST)


def chat_only(params: Mapping[str, Any]) -> bool:
    """Whether the deployment with these `litellm_params` speaks only Chat Completions."""
    if params.get(SETTING) is not None:
        return bool(params[SETTING])
    provider = _provider(params)
    if provider not in OPENAI_COMPATIBLE:
        return False
    return provider != "openai" or not _at_openai(params.get("api_base"))


def router_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment's `litellm_params` as the Router gets them: LiteLLM told when it is chat-only."""
    out = dict(params)
    if not chat_only(params):
        out.pop(SETTING, None)
        return out
    out[SETTING] = True
    if params.get("custom_llm_provider") == "openai":
        out["custom_llm_provider"] = _BRIDGE
    elif not params.get("custom_llm_provider") and _provider(params) == "openai":
        out["model"] = _BRIDGE + "/" + str(params["model"]).partition("/")[2]
    return out
