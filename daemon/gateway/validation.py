"""What a client may send: the fields no request may carry, and the shape checks routes share.

Each route module keeps its own table of field types and calls these checks; nothing here knows a
route.

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


def _litellm_internal(name: str) -> bool:
    from daemon.gateway.llm import litellm_param_names

    return name in litellm_param_names()


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


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("field 'model' is required")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("field 'model' must be a non-empty string")
    return model


def require_messages(body: Mapping[str, Any]) -> list[Any]:
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


def check_types(body: Mapping[str, Any], expected: Mapping[str, tuple[type, ...]]) -> None:
    for name, types in expected.items():
        value = body.get(name)
        if value is None:
            continue
        # bool is an int in Python; a `"max_tokens": true` is still a wrong type
        if isinstance(value, bool) and bool not in types:
            raise InvalidRequest(f"field '{name}' has the wrong type")
        if not isinstance(value, types):
            raise InvalidRequest(f"field '{name}' has the wrong type")


def check_tools(body: Mapping[str, Any]) -> None:
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
