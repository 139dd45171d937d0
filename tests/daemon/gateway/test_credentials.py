"""Which credentials an upstream call carries: the pure decision, and what LiteLLM says each provider needs."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.errors import AuthenticationFailed
from daemon.gateway.credentials import (
    NO_KEY,
    KeySource,
    Needs,
    is_local_base,
    key_source,
    missing_credentials,
    upstream_credentials,
)
from daemon.gateway.llm import provider_needs

CLIENT = {"authorization": "Bearer sk-client-own-key-123"}
OPENAI_MISSING = Needs("openai", ("OPENAI_API_KEY",))
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


@pytest.fixture
def no_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*AWS_VARS, "VERTEXAI_PROJECT", "VERTEXAI_LOCATION", "AZURE_API_KEY", "OLLAMA_API_BASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("base", "local"),
    [
        ("http://127.0.0.1:11434/v1", True),
        ("http://localhost:8000", True),
        ("http://[::1]:1234/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://10.0.0.5/v1", True),
        ("http://host.docker.internal:11434", True),
        ("http://ollama:11434", True),  # a compose service
        ("http://gpu-box.local:8000", True),
        ("https://api.openai.com/v1", False),
        ("https://my-vllm.example.com/v1", False),
        ("http://8.8.8.8/v1", False),
        (None, False),
        ("", False),
    ],
)
def test_local_bases_are_told_by_name_alone(base: str | None, local: bool) -> None:
    assert is_local_base(base) is local


@pytest.mark.parametrize(
    ("params", "needs", "client", "source"),
    [
        # the `memproxy config init` example: an OpenAI-compatible local server, no key
        ({"model": "openai/llama3.1", "api_base": "http://localhost:11434/v1"}, OPENAI_MISSING, False, "none"),
        ({"model": "openai/llama3.1", "api_base": "http://localhost:11434/v1"}, OPENAI_MISSING, True, "none"),
        ({"model": "ollama_chat/llama3.1"}, Needs("ollama_chat", ("OLLAMA_API_BASE",)), False, "none"),
        (
            {"model": "hosted_vllm/qwen", "api_base": "https://vllm.example.com/v1"},
            Needs("hosted_vllm", ()),
            True,
            "none",
        ),
        ({"model": "bedrock/anthropic.claude-3-5-sonnet"}, Needs("bedrock", ()), False, "environment"),
        ({"model": "bedrock/anthropic.claude-3-5-sonnet"}, Needs("bedrock", ()), True, "environment"),
        # a Bedrock VPC endpoint is private but still signed with AWS credentials
        ({"model": "bedrock/x", "api_base": "http://10.1.2.3"}, Needs("bedrock", ("AWS_ACCESS_KEY_ID",)), False, None),
        ({"model": "openai/gpt-4o"}, OPENAI_MISSING, True, "client"),  # bring your own key
        ({"model": "openai/gpt-4o"}, OPENAI_MISSING, False, None),
        ({"model": "openai/gpt-4o", "api_key": "sk-own"}, OPENAI_MISSING, True, "configured"),
        ({"model": "openai/x", "extra_headers": {"Authorization": "Bearer t"}}, OPENAI_MISSING, False, "configured"),
        # declared bring-your-own-key: the client's key even on loopback, and a 401 without one
        (
            {
                "model": "openai/x",
                "api_base": "http://127.0.0.1/v1",
                "configurable_clientside_auth_params": ["api_key"],
            },
            OPENAI_MISSING,
            True,
            "client",
        ),
        (
            {
                "model": "openai/x",
                "api_base": "http://127.0.0.1/v1",
                "configurable_clientside_auth_params": ["api_key"],
            },
            OPENAI_MISSING,
            False,
            None,
        ),
        ({"model": "somewhere/x"}, Needs(None, None), True, "client"),
        ({"model": "somewhere/x"}, Needs(None, None), False, "environment"),  # LiteLLM cannot tell: let it try
    ],
)
def test_key_source(params: dict[str, Any], needs: Needs, client: bool, source: str | None) -> None:
    assert key_source(params, needs, client) == (KeySource(source) if source else None)


def test_a_local_server_gets_neither_the_client_key_nor_a_placeholder() -> None:
    params = {"model": "openai/llama3.1", "api_base": "http://localhost:11434/v1"}
    for headers in (CLIENT, {"authorization": "Bearer memproxy"}, {}):
        assert upstream_credentials(params, "llama3.1", headers, None, OPENAI_MISSING) == {"api_key": NO_KEY}
    # LiteLLM fills in its own for a provider that takes no key (or reads the provider's variable)
    assert upstream_credentials({"model": "ollama_chat/llama3.1"}, "m", CLIENT, None, Needs("ollama_chat", ())) == {}


def test_environment_credentials_need_no_client_key() -> None:
    assert upstream_credentials({"model": "bedrock/x"}, "m", {}, None, Needs("bedrock", ())) == {}
    assert upstream_credentials({"model": "openai/gpt-4o"}, "m", CLIENT, None, OPENAI_MISSING) == {
        "api_key": "sk-client-own-key-123"
    }


def test_the_401_names_what_is_missing() -> None:
    needs = Needs("bedrock", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    with pytest.raises(AuthenticationFailed) as caught:
        upstream_credentials({"model": "bedrock/x"}, "claude-b", {"x-api-key": "memproxy"}, None, needs)
    assert "claude-b" in caught.value.message and "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in caught.value.message
    declared = {"model": "openai/x", "configurable_clientside_auth_params": ["api_key"]}
    assert "client's own key" in missing_credentials("m", declared, OPENAI_MISSING)


def test_provider_needs_reads_what_litellm_looks_for(no_cloud_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_needs({"model": "openai/llama3.1"}) == Needs("openai", ("OPENAI_API_KEY",))
    assert provider_needs({"model": "bedrock/anthropic.claude-3"}) == Needs(
        "bedrock", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test")
    assert provider_needs({"model": "bedrock/anthropic.claude-3"}) == Needs("bedrock", ())
    vertex = provider_needs({"model": "vertex_ai/gemini-1.5-pro", "vertex_project": "p"})
    assert vertex == Needs("vertex_ai", ("VERTEXAI_LOCATION",))
    azure = provider_needs({"model": "azure/gpt-4o", "api_base": "https://x.openai.azure.com", "api_version": "1"})
    assert azure == Needs("azure", ("AZURE_API_KEY",))
    assert provider_needs({"model": "x", "custom_llm_provider": "ollama_chat"}).provider == "ollama_chat"
    # signs in with a device flow when asked for its provider: never asked (no network)
    assert provider_needs({"model": "github_copilot/gpt-4o"}) == Needs("github_copilot", None)


def test_bedrock_with_aws_credentials_in_the_environment_is_not_refused(
    no_cloud_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = {"model": "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"}
    with pytest.raises(AuthenticationFailed):
        upstream_credentials(params, "claude-b", {}, None, provider_needs(params))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert upstream_credentials(params, "claude-b", {"x-api-key": "memproxy"}, None, provider_needs(params)) == {}
