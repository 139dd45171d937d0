"""Sampling parameters a tool hard-codes reach a Claude model that refuses them together.

Claude Opus 4.1 and the 4.5 family refuse `temperature` with `top_p` (a 400, as the fake answers,
tests/support/upstream/sampling.py). gemini-cli sends `temperature` and `topP` on every request, and
many OpenAI-client tools send both; a translated request keeps `temperature` and drops `top_p`.
A client that speaks Anthropic itself gets what Anthropic would say.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from daemon.gateway.sampling import compatible_sampling
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config, with_gemini
from tests.support.upstream import FakeUpstream, Recorded


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = with_gemini(gateway_config(upstream.url, timeout=5), upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("sampling-home"), config)


def _messages_seen(fake: FakeUpstream) -> Recorded:
    return next(r for r in reversed(fake.requests) if r.path == "/v1/messages")


def test_openai_client_with_temperature_and_top_p_reaches_claude_4_5(served: Served, upstream: FakeUpstream) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
    }
    response = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=15)
    assert response.status_code == 200, response.text
    sent = _messages_seen(upstream).body
    assert sent["temperature"] == 0.2 and "top_p" not in sent


def test_gemini_cli_habit_reaches_claude_4_5(served: Served, upstream: FakeUpstream) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"temperature": 0, "topP": 1, "maxOutputTokens": 50},
    }
    url = f"{served.url}/v1beta/models/claude-sonnet-4-5:generateContent"
    response = httpx.post(url, json=body, timeout=15)
    assert response.status_code == 200, response.text
    assert "top_p" not in _messages_seen(upstream).body


def test_anthropic_client_gets_what_anthropic_says(served: Served, upstream: FakeUpstream) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
    }
    response = httpx.post(f"{served.url}/v1/messages", json=body, timeout=15)
    assert response.status_code == 400
    assert "cannot both be specified" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("model", "kept"),
    [
        ("anthropic/claude-sonnet-4-5-20250929", False),
        ("anthropic/claude-opus-4-1", False),
        ("anthropic/claude-haiku-4-5", False),
        ("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", False),
        ("anthropic/claude-sonnet-4-20250514", True),
        ("anthropic/claude-3-7-sonnet-latest", True),
        ("openai/gpt-4o", True),
    ],
)
def test_which_models_lose_top_p(model: str, kept: bool) -> None:
    kwargs = compatible_sampling({"model": "x", "temperature": 0.5, "top_p": 0.9}, model)
    assert ("top_p" in kwargs) is kept and kwargs["temperature"] == 0.5


def test_top_p_alone_is_kept() -> None:
    assert compatible_sampling({"top_p": 0.9}, "anthropic/claude-sonnet-4-5") == {"top_p": 0.9}
