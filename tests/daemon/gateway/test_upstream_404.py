"""An upstream's 404 about its endpoint is not "model not configured", and upstream errors say which URL
answered what.

A deployment declared to speak the Responses API (`use_chat_completions_api: false`) on a server that
has no `/v1/responses`: memproxy once answered 404 with OpenAI's `model_not_found` code and no URL, and
Claude Code told its user "the model may not exist".
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from daemon.errors import ModelNotFound, UpstreamEndpointMissing, for_upstream_status, upstream_message
from tests.support.app import Served, serve_gateway
from tests.support.config import OPENAI_KEY, gateway_config, with_local_server
from tests.support.upstream import FakeUpstream, LocalUpstream, error

BODIES: dict[str, dict[str, object]] = {
    "/v1/responses": {"input": "hi"},
    "/v1/messages": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
}


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url, chat_only=False)
    yield from serve_gateway(tmp_path_factory.mktemp("upstream-404-home"), config)


@pytest.mark.regression(reason="an upstream's missing /v1/responses was answered as model_not_found, naming no URL")
@pytest.mark.parametrize("path", list(BODIES))
def test_a_missing_endpoint_names_the_url_and_is_no_model_not_found(
    served: Served, local_upstream: LocalUpstream, project: str, path: str
) -> None:
    body = {"model": "local-qwen", **BODIES[path]}
    r = httpx.post(f"{served.url}{path}", json=body, headers={"x-memproxy-project": project}, timeout=15)
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert f"upstream {local_upstream.url}/v1/responses answered 404: Not Found" in error["message"]
    assert "no such endpoint" in error["message"]
    assert "model_not_found" not in r.text and error["type"] != "not_found_error"
    (row,) = served.wait_final(project)
    assert row["status"] == "error" and f"{local_upstream.url}/v1/responses answered 404" in row["error"]


def test_a_model_the_gateway_does_not_route_is_still_a_404_that_says_so(served: Served) -> None:
    r = httpx.post(f"{served.url}/v1/responses", json={"model": "nothing-routes-this", "input": "hi"}, timeout=15)
    assert r.status_code == 404 and "is not configured" in r.json()["error"]["message"]


def test_the_fast_path_names_the_url_too_and_keeps_a_models_404(served: Served, fake: FakeUpstream) -> None:
    fake.script(error(404, "The model `gpt-4o-2099` does not exist"), error(500, f"boom {OPENAI_KEY}"))
    body = {"model": "gpt-4o-2099", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=15)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    message = r.json()["error"]["message"]
    assert message == f"upstream {fake.url}/v1/chat/completions answered 404: The model `gpt-4o-2099` does not exist"
    r = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=15)
    assert r.status_code == 502 and f"{fake.url}/v1/chat/completions answered 500: boom" in r.text
    assert OPENAI_KEY not in r.text  # the error edge still redacts what the upstream quoted


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (b'{"detail":"Not Found"}', "Not Found"),  # vLLM (FastAPI)
        (b"404 page not found", "404 page not found"),  # Ollama
        (b'{"error":"Unexpected endpoint or method. (POST /v1/responses)"}', "Unexpected endpoint or method."),
        (b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}', "File Not Found"),
        (b'{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}', "model: claude-x"),
    ],
)
def test_what_an_upstreams_error_body_says(payload: bytes, said: str) -> None:
    assert upstream_message(404, payload).startswith(said)


def test_the_status_table_tells_a_missing_endpoint_from_an_unknown_model() -> None:
    assert isinstance(for_upstream_status(404, "Not Found"), UpstreamEndpointMissing)
    assert isinstance(for_upstream_status(404, "model 'llama3' not found, try pulling it first"), ModelNotFound)
    err = for_upstream_status(401, "bad key", "http://user:pw@10.0.0.5:8000/v1/chat/completions?key=sk-x")
    assert (
        err.message == "upstream http://10.0.0.5:8000/v1/chat/completions answered 401: bad key (the key was refused)"
    )
