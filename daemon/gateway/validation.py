"""What a client may send: shape checks for each route and the fields no request may carry.

A client must never choose where the gateway sends its keys (LiteLLM's CVE-2024-6587: a
client-supplied `api_base` received the server's key). LiteLLM accepts such fields as keyword
arguments, so the gateway refuses them itself, at the top level and inside `extra_body` and
`metadata`, before anything reaches LiteLLM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.errors import InvalidRequest

FORBIDDEN_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "organization",
        "extra_headers",
        "headers",
        "user_config",
        "callbacks",
        "success_callback",
        "failure_callback",
        "input_callback",
        "service_callback",
        "logger_fn",
        "client",
        "custom_llm_provider",
        "model_list",
        "deployment_id",
        "azure_ad_token",
        "azure_ad_token_provider",
        "tenant_id",
        "client_id",
        "client_secret",
        "proxy_server_request",
        "secret_fields",
        "num_retries",
        "fallbacks",
        "context_window_fallbacks",
    }
)
FORBIDDEN_PREFIXES = ("aws_", "vertex_", "azure_", "litellm_", "mock_", "watsonx_")
NESTED_CONTAINERS = ("extra_body", "metadata", "litellm_params")


# Keyword arguments LiteLLM itself understands (credentials, endpoints, callbacks, prices, ...): none
# of them is an API field a provider documents, so a client has no business sending one.
_litellm_params: frozenset[str] | None = None


def _litellm_internal(name: str) -> bool:
    global _litellm_params
    if _litellm_params is None:
        try:
            from litellm.types.utils import all_litellm_params

            _litellm_params = frozenset(all_litellm_params) - {"metadata"}
        except ImportError:  # pragma: no cover - LiteLLM is a dependency
            _litellm_params = frozenset()
    return name in _litellm_params


def _is_forbidden(name: str) -> bool:
    return name in FORBIDDEN_FIELDS or name.startswith(FORBIDDEN_PREFIXES) or _litellm_internal(name)


def refuse_redirect_fields(body: Mapping[str, Any]) -> None:
    """Raise a 400 if `body` tries to re-key or redirect the upstream call."""
    for name, value in body.items():
        if _is_forbidden(name):
            raise InvalidRequest(f"field '{name}' is not allowed: the gateway chooses the upstream")
        if name in NESTED_CONTAINERS and isinstance(value, Mapping):
            for inner in value:
                if isinstance(inner, str) and _is_forbidden(inner):
                    raise InvalidRequest(
                        f"field '{name}.{inner}' is not allowed: the gateway chooses the upstream",
                    )


def _require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("field 'model' is required")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("field 'model' must be a non-empty string")
    return model


def _require_messages(body: Mapping[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("field 'messages' is required")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("field 'messages' must be a non-empty array")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object")
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{i}].role must be a string")
    return messages


def _check_types(body: Mapping[str, Any], expected: Mapping[str, tuple[type, ...]]) -> None:
    for name, types in expected.items():
        value = body.get(name)
        if value is None:
            continue
        # bool is an int in Python; a `"max_tokens": true` is still a wrong type
        if isinstance(value, bool) and bool not in types:
            raise InvalidRequest(f"field '{name}' has the wrong type")
        if not isinstance(value, types):
            raise InvalidRequest(f"field '{name}' has the wrong type")


_CHAT_TYPES: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "stream_options": (dict,),
    "tools": (list,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "n": (int,),
    "extra_body": (dict,),
    "metadata": (dict,),
    "response_format": (dict,),
    "tool_choice": (str, dict),
    "stop": (str, list),
    "user": (str,),
    "seed": (int,),
}
_MESSAGES_TYPES: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "tools": (list,),
    "max_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "top_k": (int,),
    "system": (str, list),
    "thinking": (dict,),
    "metadata": (dict,),
    "stop_sequences": (list,),
    "tool_choice": (dict,),
}


def _check_tools(body: Mapping[str, Any]) -> None:
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not tool:
            raise InvalidRequest(f"tools[{i}] must be a non-empty object")
        for name in ("type", "name"):
            if name in tool and not isinstance(tool[name], str):
                raise InvalidRequest(f"tools[{i}].{name} must be a string")
        function = tool.get("function")
        if tool.get("type") == "function" and not (
            isinstance(function, dict) and isinstance(function.get("name"), str)
        ):
            raise InvalidRequest(f"tools[{i}].function must be an object with a name")


def validate_chat_request(body: Mapping[str, Any]) -> str:
    """Check an OpenAI Chat Completions body; return the requested model."""
    model = _require_model(body)
    _require_messages(body)
    _check_types(body, _CHAT_TYPES)
    _check_tools(body)
    refuse_redirect_fields(body)
    return model


def validate_messages_request(body: Mapping[str, Any]) -> str:
    """Check an Anthropic Messages body; return the requested model."""
    model = _require_model(body)
    _require_messages(body)
    _check_types(body, _MESSAGES_TYPES)
    _check_tools(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("field 'max_tokens' is required")
    if max_tokens < 1:
        raise InvalidRequest("field 'max_tokens' must be at least 1")
    refuse_redirect_fields(body)
    return model


def validate_count_tokens_request(body: Mapping[str, Any]) -> str:
    """Check an Anthropic count_tokens body; return the requested model."""
    model = _require_model(body)
    _require_messages(body)
    _check_types(body, {k: v for k, v in _MESSAGES_TYPES.items() if k != "max_tokens"})
    refuse_redirect_fields(body)
    return model
