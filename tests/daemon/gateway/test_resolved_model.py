"""`resolved_model` is the provider's own model name on every path: plain and streamed, fast path and
LiteLLM, chat / messages / responses / embeddings; wildcards filled in, LiteLLM's `provider/` prefix off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.gateway.llm import provider_model
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream, error

USER = [{"role": "user", "content": "which model?"}]


def _config(upstream_url: str, fast_path: bool) -> str:
    # fireworks_ai: LiteLLM answers with `fireworks_ai/<model>`; `*`: a catch-all wildcard, last
    extra_models = f"""  - model_name: "fw-*"
    litellm_params:
      model: "fireworks_ai/fw-*"
      api_base: "{upstream_url}/v1"
      api_key: sk-fw-test-0123456789
  - model_name: "*"
    litellm_params:
      model: "openai/*"
      api_base: "{upstream_url}/v1"
      api_key: sk-any-test-0123456789
"""
    config = gateway_config(upstream_url, fast_path=fast_path, aliases="{tiny: gpt-4o-mini}")
    return config.replace("router_settings:\n", extra_models + "router_settings:\n", 1)  # after the others


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "litellm"])
def served(
    request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("resolved-home"), _config(upstream.url, request.param))


def _body(path: str, model: str, stream: bool) -> dict[str, Any]:
    if path == "/v1/embeddings":
        return {"model": model, "input": "hi"}
    if path == "/v1/responses":
        return {"model": model, "input": "hi", "stream": stream}
    return {"model": model, "messages": USER, "max_tokens": 5, "stream": stream}


def _row(served: Served, project: str, path: str, model: str, stream: bool = False) -> dict[str, Any]:
    body = _body(path, model, stream)
    httpx.post(f"{served.url}{path}", json=body, headers={"x-memproxy-project": project}, timeout=15)
    (row,) = served.wait_final(project)
    return row


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(
    ("model", "provider", "resolved"),
    [
        ("gpt-4o", "openai", "gpt-4o"),
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("other-model", "openai", "other-model"),  # the catch-all `*`
        ("tiny", "openai", "gpt-4o-mini"),  # an alias: the model it stands for
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_resolved_model_is_the_providers_name(
    served: Served, fake: FakeUpstream, project: str, path: str, model: str, provider: str, resolved: str, stream: bool
) -> None:
    row = _row(served, project, path, model, stream)
    assert row["status"] == "ok", row["error"]
    assert (row["model"], row["provider"], row["resolved_model"]) == (model, provider, resolved)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_litellms_provider_prefix_is_taken_off(
    served: Served, fake: FakeUpstream, project: str, path: str, stream: bool
) -> None:
    row = _row(served, project, path, "fw-llama", stream)
    assert row["status"] == "ok", row["error"]
    # LiteLLM answers `fireworks_ai/accounts/fireworks/models/fw-llama` here, unprefixed when streaming
    assert row["provider"] == "fireworks_ai"
    assert row["resolved_model"] in ("fw-llama", "accounts/fireworks/models/fw-llama")


@pytest.mark.parametrize("model", ["gpt-4o", "other-model"])
def test_embeddings_on_a_wildcard_name_the_model(served: Served, fake: FakeUpstream, project: str, model: str) -> None:
    row = _row(served, project, "/v1/embeddings", model)
    assert (row["status"], row["resolved_model"]) == ("ok", model)


def test_a_failed_request_still_names_the_model_it_was_sent_to(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    fake.script(error(500))
    row = _row(served, project, "/v1/chat/completions", "gpt-4.1-mini")
    assert (row["status"], row["resolved_model"]) == ("error", "gpt-4.1-mini")


@pytest.mark.parametrize(
    ("model", "provider", "bare"),
    [
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("gpt-4o", "openai", "gpt-4o"),
        ("gpt-4o", None, "gpt-4o"),
        ("ollama_chat/llama3.1", "ollama_chat", "llama3.1"),
        ("hosted_vllm/meta-llama/Llama-3.1-8B", "hosted_vllm", "meta-llama/Llama-3.1-8B"),
        ("openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        ("anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),  # openrouter's own name
        ("bedrock/converse/anthropic.claude-3-haiku", "bedrock", "anthropic.claude-3-haiku"),
        ("azure/my-gpt4o-deployment", "azure", "my-gpt4o-deployment"),
        ("", "openai", None),
        (None, "openai", None),
    ],
)
def test_provider_model(model: str | None, provider: str | None, bare: str | None) -> None:
    assert provider_model(model, provider) == bare
