"""Keyless and header-keyed deployments through the gateway, count_tokens rows, and no network on the
request path but the upstream. The gateway calls LiteLLM for real; the upstreams are fake servers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.gateway.credentials import NO_KEY
from daemon.gateway.llm import OFFLINE_ENV
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream, LocalUpstream, error

USER = [{"role": "user", "content": "hello"}]
CLIENT_KEY = "sk-client-own-key-3c9d1e"
HEADER_KEY = "sk-extra-header-SECRET-77aa1b"
TENANT = "tenant-secret-9f3c5d2e"
KEY_HEADERS = ("authorization", "x-api-key", "api-key")


def _deployments(fake: str, local: str) -> str:
    return f"""  - model_name: "keyless-*"
    litellm_params:
      model: "openai/keyless-*"
      api_base: "{fake}/v1"
  - model_name: "local-keyless-*"
    litellm_params:
      model: "openai/local-keyless-*"
      api_base: "{local}/v1"
  - model_name: "vllm-*"
    litellm_params:
      model: "hosted_vllm/vllm-*"
      api_base: "{local}/v1"
  - model_name: "headers-*"
    litellm_params:
      model: "openai/headers-*"
      api_base: "{fake}/v1"
      extra_headers: {{Authorization: "Bearer {HEADER_KEY}", X-Tenant: "{TENANT}"}}
  - model_name: "llama-3.1-8b"
    litellm_params:
      model: "openai/llama-3.1-8b"
      api_base: "{fake}/v1"
"""


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = gateway_config(upstream.url, timeout=10)
    config = config.replace("model_list:\n", "model_list:\n" + _deployments(upstream.url, local_upstream.url), 1)
    yield from serve_gateway(tmp_path_factory.mktemp("keyless-home"), config)


def _post(served: Served, path: str, body: dict[str, Any], project: str, **headers: str) -> httpx.Response:
    headers = {"x-memproxy-project": project, **headers}
    return httpx.post(f"{served.url}{path}", json=body, headers=headers, timeout=30)


def _keys(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name in KEY_HEADERS}


@pytest.mark.parametrize("sent", [None, "Bearer memproxy", f"Bearer {CLIENT_KEY}"], ids=["none", "placeholder", "own"])
def test_a_keyless_local_server_answers_and_gets_no_key_on_the_fast_path(
    served: Served, local_upstream: LocalUpstream, project: str, sent: str | None
) -> None:
    headers = {"authorization": sent} if sent else {}
    r = _post(served, "/v1/chat/completions", {"model": "local-keyless-1", "messages": USER}, project, **headers)
    assert r.status_code == 200, r.text
    assert _keys(local_upstream.last("/v1/chat/completions").headers) == {}
    assert served.wait_final(project)[0]["status"] == "ok"


@pytest.mark.parametrize("sent", ["memproxy", CLIENT_KEY], ids=["placeholder", "own"])
def test_a_keyless_local_deployment_through_litellm_gets_neither_placeholder_nor_client_key(
    served: Served, fake: FakeUpstream, project: str, sent: str
) -> None:
    body = {"model": "keyless-1", "messages": USER, "max_tokens": 5}
    r = _post(served, "/v1/messages", body, project, **{"x-api-key": sent})
    assert r.status_code == 200, r.text
    seen = _keys(fake.requests[-1].headers)
    # LiteLLM's OpenAI client will not start without some key: it carries NO_KEY, nothing of the client's
    assert seen in ({}, {"authorization": f"Bearer {NO_KEY}"}), seen
    assert sent not in json.dumps(fake.requests[-1].headers)


def test_a_provider_that_takes_no_key_answers_through_litellm(
    served: Served, local_upstream: LocalUpstream, project: str
) -> None:
    body = {"model": "vllm-small", "messages": USER, "max_tokens": 5}
    r = _post(served, "/v1/messages", body, project, **{"x-api-key": CLIENT_KEY})
    assert r.status_code == 200, r.text
    assert CLIENT_KEY not in json.dumps(local_upstream.last("/v1/chat/completions").headers)


def test_extra_headers_go_upstream_on_the_fast_path_and_are_redacted(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    fake.require_key = HEADER_KEY
    r = _post(served, "/v1/chat/completions", {"model": "headers-1", "messages": USER}, project)
    assert r.status_code == 200, r.text
    seen = fake.last("/v1/chat/completions").headers
    assert seen["authorization"] == f"Bearer {HEADER_KEY}" and seen["x-tenant"] == TENANT
    fake.script(error(400, message=f"tenant {TENANT} with key {HEADER_KEY} is over its quota"))
    r = _post(served, "/v1/chat/completions", {"model": "headers-1", "messages": USER}, project)
    assert r.status_code == 400
    assert TENANT not in r.text, r.text
    assert HEADER_KEY not in r.text, r.text
    rows = served.wait_final(project)
    assert len(rows) == 2 and TENANT not in json.dumps(rows) and HEADER_KEY not in json.dumps(rows)


def test_count_tokens_leaves_a_row_without_cost(served: Served, fake: FakeUpstream, project: str) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": USER}
    r = _post(served, "/v1/messages/count_tokens", body, project)
    assert r.status_code == 200, r.text
    counted = r.json()["input_tokens"]
    r = _post(served, "/v1/messages/count_tokens", {**body, "model": "nope-1"}, project)
    assert r.status_code == 404
    rows = served.wait_final(project)
    assert [(row["endpoint"], row["status"], row["http_status"]) for row in rows] == [
        ("/v1/messages/count_tokens", "ok", 200),
        ("/v1/messages/count_tokens", "error", 404),
    ]
    assert rows[0]["input_tokens"] == counted > 0 and rows[0]["output_tokens"] == 0
    assert rows[0]["cost_usd"] is None and rows[0]["model"] == "claude-sonnet-4-5"


@pytest.fixture
def no_outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name looked up that is not this machine's (each refused at once): should stay empty."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def guard(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            looked_up.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "no network in this test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guard)
    return looked_up


def test_litellm_is_set_up_offline(served: Served) -> None:
    assert {name: os.environ.get(name) for name in OFFLINE_ENV} == OFFLINE_ENV


def test_a_llama_named_model_reaches_no_tokenizer_hub_and_health_answers_meanwhile(
    served: Served, fake: FakeUpstream, project: str, no_outbound: list[str]
) -> None:
    """A llama-3 name used to make LiteLLM download a Hugging Face tokenizer on the event loop
    (~23 s of retries without network): the whole daemon, /health included, froze meanwhile."""
    fake.chunk_interval_ms = 50  # the stream is still going when /health is asked
    body = {"model": "llama-3.1-8b", "messages": USER, "max_tokens": 20, "stream": True}
    started = threading.Event()
    done: dict[str, Any] = {}

    def stream() -> None:
        with httpx.stream("POST", f"{served.url}/v1/messages", json=body, timeout=60) as r:
            started.set()
            done["status"], done["body"] = r.status_code, r.read()

    worker = threading.Thread(target=stream)
    worker.start()
    assert started.wait(60)
    health = httpx.get(f"{served.url}/health", timeout=60)
    worker.join(60)
    assert health.status_code == 200 and done["status"] == 200
    assert b"message_stop" in done["body"]
    counted = _post(served, "/v1/messages/count_tokens", {"model": "llama-3.1-8b", "messages": USER}, project)
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    assert no_outbound == []


async def test_health_answers_while_tokens_are_counted(served: Served, project: str) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        body = {"model": "llama-3.1-8b", "messages": USER * 200}
        counts = [client.post("/v1/messages/count_tokens", json=body) for _ in range(4)]
        health, *answers = await asyncio.gather(client.get("/health"), *counts)
    assert health.status_code == 200 and all(a.status_code == 200 for a in answers)
