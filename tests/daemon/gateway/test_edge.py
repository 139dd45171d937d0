"""The one error edge: every route's errors reach the client (and the databank) with keys taken out.

`/v1/embeddings` and `/v1/messages/count_tokens` once built their own error answers and skipped
redaction: an upstream error that quoted the configured key reached the client in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.app import Served, serve_gateway
from tests.support.config import ANTHROPIC_KEY, OPENAI_KEY, gateway_config
from tests.support.upstream import FakeUpstream, error

CLIENT_KEY = "sk-client-OWN-key-5b7d2e9f01"
USER = [{"role": "user", "content": "count me"}]
# a keyless Anthropic deployment: count_tokens then counts with the client's own key
KEYLESS_CLAUDE = """  - model_name: "byoc-*"
    litellm_params:
      model: "anthropic/claude-*"
      api_base: "{url}"
"""


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = gateway_config(upstream.url).replace(
        "model_list:\n", "model_list:\n" + KEYLESS_CLAUDE.format(url=upstream.url), 1
    )
    yield from serve_gateway(tmp_path_factory.mktemp("edge-home"), config)


def _post(served: Served, path: str, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(f"{served.url}{path}", json=body, headers=headers, timeout=15)


UPSTREAM_ERRORS = [
    # (the key the upstream quotes, the embeddings model, headers the client sends)
    (OPENAI_KEY, "gpt-embed", {}),
    (CLIENT_KEY, "byok-embed", {"authorization": f"Bearer {CLIENT_KEY}"}),
]


@pytest.mark.regression(
    reason="/v1/embeddings built its own error answer without redaction: an upstream error quoting the "
    "configured or the client's key reached the client in clear"
)
@pytest.mark.parametrize(("key", "model", "headers"), UPSTREAM_ERRORS)
def test_embeddings_upstream_error_quoting_a_key_is_redacted(
    served: Served, fake: FakeUpstream, project: str, key: str, model: str, headers: dict[str, str]
) -> None:
    fake.fail("/embeddings", error(400, message=f"the key {key} is not valid for this"))
    r = _post(served, "/v1/embeddings", {"model": model, "input": "hi"}, **headers, **{"x-memproxy-project": project})
    assert r.status_code == 400, r.text
    assert key not in r.text and "[redacted]" in r.json()["error"]["message"]
    assert fake.last("/v1/embeddings").body == {"model": model, "input": "hi"}  # the upstream really was asked
    rows = served.wait_final(project)
    assert rows and rows[0]["status"] == "error" and key not in json.dumps(rows)


# A tool misconfigured with its key in the model field: the 404 names the model it was sent.
MODEL_IS_A_KEY = [
    ("/v1/embeddings", {"input": "hi"}, OPENAI_KEY, {}, "error"),
    ("/v1/embeddings", {"input": "hi"}, CLIENT_KEY, {"authorization": f"Bearer {CLIENT_KEY}"}, "error"),
    ("/v1/messages/count_tokens", {"messages": USER}, ANTHROPIC_KEY, {}, "type"),
    ("/v1/messages/count_tokens", {"messages": USER}, CLIENT_KEY, {"x-api-key": CLIENT_KEY}, "type"),
]


@pytest.mark.regression(reason="count_tokens answered its errors without redaction (and embeddings too)")
@pytest.mark.parametrize(("path", "body", "key", "headers", "shape"), MODEL_IS_A_KEY)
def test_a_key_sent_as_the_model_name_is_redacted_from_the_error(
    served: Served, path: str, body: dict[str, object], key: str, headers: dict[str, str], shape: str
) -> None:
    r = _post(served, path, {"model": f"x-{key}", **body}, **headers)
    assert r.status_code == 404, r.text
    assert key not in r.text and "[redacted]" in r.text
    assert shape in r.json()  # OpenAI's {"error": ...} or Anthropic's {"type": "error", ...}


def test_a_refused_body_ends_its_row_and_is_answered_in_the_dialect(served: Served, project: str) -> None:
    r = _post(served, "/v1/messages", {"model": "claude-x", "messages": "nope"}, **{"x-memproxy-project": project})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    rows = served.wait_final(project)
    assert rows and rows[0]["status"] == "error" and rows[0]["http_status"] == 400


@pytest.mark.regression(reason="the placeholder key counted as a presented key, so 'memproxy' was redacted from errors")
def test_the_placeholder_key_is_not_redacted_as_a_word(served: Served) -> None:
    r = _post(
        served,
        "/v1/messages/count_tokens",
        {"model": "memproxy-nowhere", "messages": USER},
        **{"x-api-key": "memproxy"},
    )
    assert r.status_code == 404
    assert "memproxy-nowhere" in r.json()["error"]["message"]


@pytest.mark.regression(reason="a key the client presented but the gateway never used stayed in the row's error")
def test_a_presented_key_never_used_stays_out_of_the_row(served: Served, project: str) -> None:
    unused = "sk-client-NEVER-USED-key-77c1e0"  # a key no earlier request made the gateway see
    r = _post(
        served,
        "/v1/embeddings",
        {"model": f"x-{unused}", "input": "hi"},
        **{"authorization": f"Bearer {unused}", "x-memproxy-project": project},
    )
    assert r.status_code == 404 and unused not in r.text
    rows = served.wait_final(project)
    assert rows and rows[0]["status"] == "error" and unused not in json.dumps(rows)
