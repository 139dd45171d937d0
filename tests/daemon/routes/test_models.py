"""`/v1/models` lists names a client can ask for: never a pattern."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from daemon.routes.models import model_ids, wildcard_models

COST: dict[str, dict[str, Any]] = {
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat"},
    "gpt-5-codex": {"litellm_provider": "openai", "mode": "responses"},
    "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding"},
    "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation"},
    "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat"},
    "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat"},
    "ft:gpt-4o:org/x": {"litellm_provider": "openai", "mode": "chat"},
}


def entry(name: str, model: str) -> Any:
    return SimpleNamespace(model_name=name, litellm_params={"model": model})


def test_a_wildcard_lists_the_providers_chat_models_that_match_it() -> None:
    assert wildcard_models(entry("gpt-*", "openai/gpt-*"), COST) == ["gpt-4o", "gpt-5-codex"]
    assert wildcard_models(entry("gemini-*", "gemini/gemini-*"), COST) == ["gemini-2.5-pro"]
    # a renamed wildcard keeps its own prefix
    assert wildcard_models(entry("work-*", "anthropic/claude-*"), COST) == ["work-sonnet-4-5"]
    # a catch-all deployment of one provider, and a keyless one with no catalogue
    assert wildcard_models(entry("*", "anthropic/*"), COST) == ["claude-sonnet-4-5"]
    assert wildcard_models(entry("byok-*", "openai/byok-*"), COST) == []


def test_configured_names_then_wildcards_then_aliases_each_once() -> None:
    models = [entry("fast", "openai/gpt-4o"), entry("gpt-*", "openai/gpt-*"), entry("gpt-4o", "openai/gpt-4o")]
    assert model_ids(models, ["claude-opus-4-8", "fast"], COST) == ["fast", "gpt-4o", "gpt-5-codex", "claude-opus-4-8"]
