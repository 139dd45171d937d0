"""Anthropic-format and Responses clients on a server that speaks only Chat Completions.

LiteLLM sends Anthropic Messages for an `openai/` deployment, and Responses for it, to the upstream's
`/v1/responses`; a local server (Ollama, vLLM, LM Studio, llama.cpp) has none and answered 404, so
Claude Code told its user "the model may not exist". memproxy marks such deployments chat-only
(`daemon.gateway.chat_only`) and LiteLLM translates through `/v1/chat/completions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from daemon.gateway.chat_only import chat_only, router_params
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config, with_local_server
from tests.support.upstream import FakeUpstream, LocalUpstream, text

ANSWER = "Local models answer too"
ASK: list[Any] = [{"role": "user", "content": "does this work with a local model"}]


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("chat-only-home"), config)


def _headers(project: str) -> dict[str, str]:
    return {"x-memproxy-project": project}


def _claude(served: Served, project: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=served.url, api_key="memproxy", max_retries=0, default_headers=_headers(project)
    )


def _openai(served: Served, project: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=served.url + "/v1", api_key="memproxy", max_retries=0, default_headers=_headers(project)
    )


def _only_chat_was_asked(local: LocalUpstream) -> None:
    assert {r.path for r in local.requests} == {"/v1/chat/completions"}


def _one_ok_row(served: Served, project: str) -> dict[str, Any]:
    (row,) = served.wait_final(project)
    assert row["status"] == "ok", row
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0, row
    assert row["model"] == "local-qwen"
    return row


@pytest.mark.regression(
    reason="Anthropic Messages for an openai/ deployment went to the server's missing /v1/responses"
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_anthropic_sdk_on_a_chat_only_server(
    served: Served, local_upstream: LocalUpstream, project: str, stream: bool
) -> None:
    local_upstream.script(text(ANSWER))
    client = _claude(served, project)
    message: anthropic.types.Message  # the stream's final one is a ParsedMessage, a Message
    if stream:
        with client.messages.stream(model="local-qwen", max_tokens=64, messages=ASK) as events:
            assert "".join(events.text_stream) == ANSWER
            message = events.get_final_message()
    else:
        message = client.messages.create(model="local-qwen", max_tokens=64, messages=ASK)
    assert "".join(b.text for b in message.content if b.type == "text") == ANSWER
    assert message.usage.output_tokens > 0
    _only_chat_was_asked(local_upstream)
    _one_ok_row(served, project)


@pytest.mark.regression(reason="/v1/responses for an openai/ deployment went to the server's missing /v1/responses")
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_openai_responses_on_a_chat_only_server(
    served: Served, local_upstream: LocalUpstream, project: str, stream: bool
) -> None:
    local_upstream.script(text(ANSWER))
    client = _openai(served, project)
    if stream:
        events = list(client.responses.create(model="local-qwen", input="does this work", stream=True))
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == ANSWER
        (done,) = [e for e in events if e.type == "response.completed"]
        response = done.response
    else:
        response = client.responses.create(model="local-qwen", input="does this work")
    assert response.output_text == ANSWER
    _only_chat_was_asked(local_upstream)
    _one_ok_row(served, project)


RULE = [
    ({"model": "openai/gpt-4o"}, False),  # OpenAI itself has the Responses API
    ({"model": "openai/gpt-4o", "api_base": "https://api.openai.com/v1"}, False),
    ({"model": "openai/llama3.1", "api_base": "http://127.0.0.1:11434/v1"}, True),
    ({"model": "openai/qwen", "api_base": "http://gpu-box:8000/v1", "use_chat_completions_api": False}, False),
    ({"model": "openai/gpt-4o", "use_chat_completions_api": True}, True),
    ({"model": "hosted_vllm/qwen", "api_base": "http://gpu-box:8000/v1"}, True),
    ({"model": "qwen", "custom_llm_provider": "lm_studio"}, True),
    ({"model": "ollama_chat/llama3.1"}, True),
    ({"model": "anthropic/claude-sonnet-4-5"}, False),
    ({"model": "azure/gpt-4o", "api_base": "https://x.openai.azure.com"}, False),
]


@pytest.mark.parametrize(("params", "expected"), RULE)
def test_which_deployments_are_chat_only(params: dict[str, Any], expected: bool) -> None:
    assert chat_only(params) is expected


def test_the_router_gets_a_chat_only_openai_deployment_as_an_openai_compatible_server() -> None:
    local = {"model": "openai/qwen", "api_base": "http://127.0.0.1:8000/v1"}
    assert router_params(local) == {**local, "model": "hosted_vllm/qwen", "use_chat_completions_api": True}
    declared = {**local, "model": "qwen", "custom_llm_provider": "openai"}
    assert router_params(declared)["custom_llm_provider"] == "hosted_vllm"
    speaks_responses = {**local, "use_chat_completions_api": False}
    assert router_params(speaks_responses) == local  # LiteLLM's own routing, untouched
    assert router_params({"model": "openai/gpt-4o"}) == {"model": "openai/gpt-4o"}


@pytest.fixture(scope="module")
def through_litellm(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url, fast_path=False), local_upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("chat-only-litellm-home"), config)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_chat_through_litellm_keeps_the_model_name(
    through_litellm: Served, local_upstream: LocalUpstream, project: str, stream: bool
) -> None:
    local_upstream.script(text(ANSWER))
    client = _openai(through_litellm, project)
    if stream:
        chunks = list(client.chat.completions.create(model="local-qwen", messages=ASK, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
        assert {c.model for c in chunks} == {"local-qwen"}
    else:
        reply = client.chat.completions.create(model="local-qwen", messages=ASK)
        assert (reply.model, reply.choices[0].message.content) == ("local-qwen", ANSWER)
    _only_chat_was_asked(local_upstream)
    _one_ok_row(through_litellm, project)
