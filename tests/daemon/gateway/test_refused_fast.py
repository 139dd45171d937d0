"""A loopback upstream nobody listens on is answered at once, in words without LiteLLM's internals."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from daemon.gateway.llm import map_exception
from memproxy_cli.main import app
from tests.support.app import Served, serve_gateway

INTERNALS = ("ssl:", "object at 0x", "Handle with", "LiteLLM: model group", "Exception -", "InternalServerError")


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = f"""model_list:
  - model_name: local
    litellm_params:
      model: openai/whatever
      api_base: http://127.0.0.1:{_dead_port()}/v1
      api_key: anything
"""
    yield from serve_gateway(tmp_path_factory.mktemp("refused-home"), config)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "local", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages", {"model": "local", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": "local", "input": "hi"}),
    ],
)
def test_a_refused_local_upstream_fails_fast_and_says_so(served: Served, path: str, body: dict[str, object]) -> None:
    started = time.monotonic()
    answer = httpx.post(served.url + path, json=body, timeout=30)
    took = time.monotonic() - started
    assert answer.status_code == 502
    assert took < 1.0, f"{took:.1f} s: a refused connection on this machine is not retried"  # was 5-7 s
    assert "connection refused" in answer.text and "127.0.0.1" in answer.text
    assert not any(word in answer.text for word in INTERNALS), answer.text


def test_logs_errors_shows_the_reason(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    httpx.post(served.url + "/v1/chat/completions", json={"model": "local", "messages": []}, timeout=30)
    assert served.gateway.writer.flush()
    monkeypatch.setenv("MEMPROXY_HOME", str(served.home))
    table = CliRunner().invoke(app, ["logs", "--errors"], env={"COLUMNS": "100"}).stdout
    assert "↳ cannot reach the upstream" in table and "connection refused" in table, table


def test_litellm_messages_lose_their_internals(tmp_path: Path) -> None:
    import litellm

    raw = (
        "litellm.InternalServerError: Hosted_vllmException - Cannot connect to host 10.1.2.3:8000 "
        "ssl:<ssl.SSLContext object at 0x7ff351e9ff50> [Connect call failed ('10.1.2.3', 8000)]. "
        "Handle with litellm.InternalServerError.\n\nLiteLLM: model group 'local' failed with the error above."
    )
    mapped = map_exception(litellm.InternalServerError(message=raw, llm_provider="hosted_vllm", model="x"))
    text = str(mapped)
    assert "Cannot connect to host 10.1.2.3:8000: the connection failed" in text, text
    assert not any(word in text for word in INTERNALS), text
