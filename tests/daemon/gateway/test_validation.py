"""Request shape checks and the fields no client may send (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.errors import GatewayError
from daemon.gateway.validation import FORBIDDEN_FIELDS, refuse_redirect_fields
from daemon.routes.chat import validate_chat_request
from daemon.routes.count_tokens import validate_count_tokens_request
from daemon.routes.messages import validate_messages_request

USER = [{"role": "user", "content": "hi"}]


def refused(fn: Any, body: dict[str, Any]) -> str:
    with pytest.raises(GatewayError) as info:
        fn(body)
    assert info.value.status == 400
    assert info.value.kind == "invalid_request"
    return info.value.message


def test_valid_bodies_return_the_model() -> None:
    assert validate_chat_request({"model": "gpt-4o", "messages": USER}) == "gpt-4o"
    assert validate_messages_request({"model": "claude-x", "messages": USER, "max_tokens": 1}) == "claude-x"
    assert validate_count_tokens_request({"model": "claude-x", "messages": USER}) == "claude-x"


def test_everything_a_real_client_sends_is_accepted() -> None:
    chat = {
        "model": "gpt-4o",
        "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": []}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "max_tokens": 10,
        "max_completion_tokens": 10,
        "temperature": 0,
        "top_p": 0.5,
        "n": 1,
        "metadata": {"user": "me"},
        "extra_body": {"reasoning_effort": "low"},
        "user": "someone",
    }
    validate_chat_request(chat)
    messages = {
        "model": "claude-x",
        "messages": USER,
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 512},
        "temperature": 1.0,
        "top_k": 5,
        "stop_sequences": ["x"],
        "metadata": {"user_id": "u"},
        "tools": [],
        "stream": False,
    }
    validate_messages_request(messages)
    validate_messages_request({**messages, "system": "plain string"})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": USER}, "'model' is required"),
        ({"model": "", "messages": USER}, "'model' must be a non-empty string"),
        ({"model": "   ", "messages": USER}, "non-empty string"),
        ({"model": 4, "messages": USER}, "non-empty string"),
        ({"model": "m"}, "'messages' is required"),
        ({"model": "m", "messages": []}, "non-empty array"),
        ({"model": "m", "messages": "hi"}, "non-empty array"),
        ({"model": "m", "messages": ["hi"]}, "messages[0] must be an object"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "'stream'"),
        ({"model": "m", "messages": USER, "max_tokens": "10"}, "'max_tokens'"),
        ({"model": "m", "messages": USER, "max_tokens": True}, "'max_tokens'"),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "'temperature'"),
        ({"model": "m", "messages": USER, "tools": {}}, "'tools'"),
        ({"model": "m", "messages": USER, "n": 1.5}, "'n'"),
        ({"model": "m", "messages": USER, "stream_options": []}, "'stream_options'"),
    ],
)
def test_chat_shape_errors(body: dict[str, Any], words: str) -> None:
    assert words in refused(validate_chat_request, body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "m", "messages": USER}, "'max_tokens' is required"),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "at least 1"),
        ({"model": "m", "messages": USER, "max_tokens": -5}, "at least 1"),
        ({"model": "m", "messages": USER, "max_tokens": 1.5}, "'max_tokens'"),
        ({"model": "m", "messages": USER, "max_tokens": 5, "system": 3}, "'system'"),
        ({"model": "m", "messages": USER, "max_tokens": 5, "thinking": "on"}, "'thinking'"),
        ({"model": "m", "messages": USER, "max_tokens": 5, "top_k": 0.5}, "'top_k'"),
        ({"model": "m", "messages": USER, "max_tokens": 5, "stop_sequences": "x"}, "'stop_sequences'"),
        ({"messages": USER, "max_tokens": 5}, "'model' is required"),
        ({"model": "m", "max_tokens": 5}, "'messages' is required"),
    ],
)
def test_messages_shape_errors(body: dict[str, Any], words: str) -> None:
    assert words in refused(validate_messages_request, body)


def test_count_tokens_needs_no_max_tokens_but_checks_the_rest() -> None:
    validate_count_tokens_request({"model": "m", "messages": USER})
    assert "'system'" in refused(validate_count_tokens_request, {"model": "m", "messages": USER, "system": 1})
    assert "api_base" in refused(validate_count_tokens_request, {"model": "m", "messages": USER, "api_base": "x"})


@pytest.mark.parametrize(
    "name",
    ["api_base", "base_url", "api_key", "extra_headers", "custom_llm_provider", "aws_region_name", "litellm_logging"],
)
@pytest.mark.parametrize("container", [None, "extra_body", "metadata"])
def test_redirect_fields_are_refused_at_top_level_and_nested(name: str, container: str | None) -> None:
    body: dict[str, Any] = {"model": "m", "messages": USER, "max_tokens": 5}
    if container is None:
        body[name] = "http://evil.example"
    else:
        body[container] = {name: "http://evil.example"}
    for validate in (validate_chat_request, validate_messages_request):
        message = refused(validate, body)
        assert name in message and "not allowed" in message


def test_litellm_params_is_refused_whatever_it_holds() -> None:
    assert "litellm_params" in refused(validate_chat_request, {"model": "m", "messages": USER, "litellm_params": {}})


def test_every_forbidden_field_is_refused() -> None:
    for name in FORBIDDEN_FIELDS:
        with pytest.raises(GatewayError):
            refuse_redirect_fields({name: "x"})


def test_ordinary_fields_in_containers_pass() -> None:
    refuse_redirect_fields({"metadata": {"user_id": "u", "session": "s"}, "extra_body": {"top_k": 3}})
    refuse_redirect_fields({"metadata": "not a mapping"})
