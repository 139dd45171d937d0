"""Shared fixtures: every test gets its own MEMPROXY_HOME and no provider keys from the real environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

PROVIDER_KEY_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "OPENROUTER_API_KEY",
    "SUPERMEMORY_API_KEY",
    "MEMPROXY_CONFIG",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
)


@pytest.fixture(autouse=True)
def memproxy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point MEMPROXY_HOME at a fresh folder and hide the developer's real keys."""
    home = tmp_path / "memproxy-home"
    home.mkdir()
    monkeypatch.setenv("MEMPROXY_HOME", str(home))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in PROVIDER_KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    yield home
