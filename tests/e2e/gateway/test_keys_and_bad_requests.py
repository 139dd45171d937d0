"""Credentials and client mistakes through the real daemon: a keyless model takes the client's own key
(or is a 401), bad bodies are a 400 and unknown models a 404 in the route's dialect, a lying
Content-Length is a 400 or a close, never a hang; nothing of it goes upstream.
"""

from __future__ import annotations

import json
import socket

import anthropic
import httpx
import openai
import pytest

from tests.support.daemon import Daemon
from tests.support.gateway_e2e import CLAUDE_USER, CLIENT_KEY, OPENAI_USER, USER, assert_dialect_error, one_row, post
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e


# --- credentials -----------------------------------------------------------------------------------


def test_client_key_is_passed_on_for_a_keyless_model(
    gateway: Daemon, fake: FakeUpstream, oai: openai.OpenAI, claude: anthropic.Anthropic, project: str
) -> None:
    fake.script(text("bring your own key"), text("again"))
    reply = oai.chat.completions.create(model="byok-small", messages=OPENAI_USER)
    assert reply.choices[0].message.content == "bring your own key"
    seen = fake.last("/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {CLIENT_KEY}"
    assert seen.body["model"] == "byok-small"
    claude.messages.create(model="byok-small", max_tokens=10, messages=CLAUDE_USER)
    assert fake.last().headers["authorization"] == f"Bearer {CLIENT_KEY}"
    rows = gateway.project_rows(project, 2)
    assert all(r["status"] == "ok" for r in rows)
    assert CLIENT_KEY not in json.dumps(gateway.rows())  # never stored


@pytest.mark.parametrize("key", ["memproxy", None], ids=["placeholder", "none"])
def test_keyless_model_without_client_key_is_401(
    gateway: Daemon, fake: FakeUpstream, project: str, key: str | None
) -> None:
    headers = {"x-memproxy-project": project}
    if key:
        headers["authorization"] = f"Bearer {key}"
    body = {"model": "byok-small", "messages": USER}
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert r.status_code == 401
    err = r.json()["error"]
    assert "byok-small" in err["message"] and err["type"] == "authentication_error"
    headers.pop("authorization", None)
    if key:
        headers["x-api-key"] = key
    r = httpx.post(f"{gateway.url}/v1/messages", json={**body, "max_tokens": 5}, headers=headers, timeout=10)
    assert r.status_code == 401
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "authentication_error"
    assert not fake.requests  # nothing went upstream, certainly not the placeholder
    rows = gateway.project_rows(project, 2)
    assert [(r["status"], r["http_status"]) for r in rows] == [("error", 401), ("error", 401)]


# --- bad requests ----------------------------------------------------------------------------------


BAD_BODIES = {
    "malformed-json": b'{"model": "gpt-4o", "messages": [',
    "not-an-object": b'["model"]',
    "empty": b"",
    "missing-model": json.dumps({"messages": USER, "max_tokens": 5}).encode(),
    "missing-messages": json.dumps({"model": "gpt-4o", "max_tokens": 5}).encode(),
    "messages-not-a-list": json.dumps({"model": "gpt-4o", "messages": "hi", "max_tokens": 5}).encode(),
    "model-not-a-string": json.dumps({"model": 4, "messages": USER, "max_tokens": 5}).encode(),
    "max-tokens-a-string": json.dumps({"model": "gpt-4o", "messages": USER, "max_tokens": "ten"}).encode(),
    "stream-a-string": json.dumps({"model": "gpt-4o", "messages": USER, "max_tokens": 5, "stream": "yes"}).encode(),
    "api-base-in-body": json.dumps(
        {"model": "gpt-4o", "messages": USER, "max_tokens": 5, "api_base": "http://evil.example"}
    ).encode(),
    "api-key-in-extra-body": json.dumps(
        {"model": "gpt-4o", "messages": USER, "max_tokens": 5, "extra_body": {"api_key": "x"}}
    ).encode(),
}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_request_is_400_in_the_route_dialect(
    gateway: Daemon, fake: FakeUpstream, project: str, path: str, case: str
) -> None:
    r = post(gateway, path, project, content=BAD_BODIES[case])
    message = assert_dialect_error(r, path, 400)
    assert "Traceback" not in message and message
    assert not fake.requests
    row = one_row(gateway, project)
    assert (row["status"], row["http_status"], row["endpoint"]) == ("error", 400, path)
    assert row["error"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_unknown_model_is_404(gateway: Daemon, fake: FakeUpstream, project: str, path: str) -> None:
    r = post(gateway, path, project, json={"model": "mistral-large", "messages": USER, "max_tokens": 5})
    assert "mistral-large" in assert_dialect_error(r, path, 404)
    assert not fake.requests
    row = one_row(gateway, project)
    assert (row["status"], row["http_status"], row["model"]) == ("error", 404, "mistral-large")


def test_sdks_raise_not_found_for_an_unknown_model(
    gateway: Daemon, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="mistral-large", messages=OPENAI_USER)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="mistral-large", max_tokens=5, messages=CLAUDE_USER)


def _raw_exchange(port: int, request: bytes, half_close: bool, timeout: float = 8) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and half_close is False:
                    break
        except TimeoutError:
            pytest.fail(f"the gateway hung on a bad Content-Length; got {data!r}")
        return data


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_content_length_mismatch_is_400_or_closed_never_a_hang(gateway: Daemon, path: str) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": USER, "max_tokens": 5}).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    # Declares more than it sends, then stops sending.
    longer = _raw_exchange(gateway.port, f"{head}Content-Length: {len(body) + 50}\r\n\r\n".encode() + body, True)
    assert longer == b"" or longer.startswith(b"HTTP/1.1 400"), longer[:200]
    # Declares less than it sends: the body is cut short, which is not valid JSON.
    shorter = _raw_exchange(gateway.port, f"{head}Content-Length: {len(body) - 10}\r\n\r\n".encode() + body, False)
    assert shorter.startswith(b"HTTP/1.1 400"), shorter[:200]
    assert httpx.get(f"{gateway.url}/health", timeout=5).status_code == 200
