"""The fast path sends the client's own bytes: unchanged, or with the one field the gateway adds for
itself (`stream_options.include_usage` on an OpenAI stream) written in at the end — never the whole
body serialised again (an 18.9 MiB body took the event loop for it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from daemon.gateway.passthrough import Target, request_bytes
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream
from tests.support.upstream.replies import text

TARGET = Target(url="http://127.0.0.1:9/v1/chat/completions", model="gpt-4o", headers={}, provider="openai")
USAGE = {"stream_options": {"include_usage": True}}


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("fast-bytes-home"), gateway_config(upstream.url, memory=False))


def test_the_added_field_is_written_into_the_clients_bytes() -> None:
    raw = b'{ "model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "h\\u00e9"}] }\n'
    body = json.loads(raw)
    sent = request_bytes(raw, body, body, TARGET, USAGE)
    assert sent.startswith(raw.rstrip()[:-1]) and json.loads(sent) == {**body, **USAGE}
    assert request_bytes(raw, body, body, TARGET, {}) is raw


def test_a_changed_body_or_a_field_the_client_sent_is_serialised_once() -> None:
    raw = b'{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}'
    body = json.loads(raw)
    merged = {"stream_options": {"include_obfuscation": False, "include_usage": True}}
    assert json.loads(request_bytes(raw, body, body, TARGET, merged)) == {**body, **merged}  # no duplicate key
    changed = {**body, "messages": [{"role": "user", "content": "x"}]}
    assert json.loads(request_bytes(raw, changed, body, TARGET, {})) == changed
    renamed = Target(**{**TARGET.__dict__, "model": "gpt-4o-2024-08-06"})
    assert json.loads(request_bytes(raw, body, body, renamed, {}))["model"] == "gpt-4o-2024-08-06"


def test_the_upstream_gets_the_clients_stream_request_with_usage_asked_for(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    fake.script(text("hello there"))
    raw = b'{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'  # as json.dumps
    headers = {"content-type": "application/json", "x-memproxy-project": project}
    r = httpx.post(f"{served.url}/v1/chat/completions", content=raw, headers=headers, timeout=15)
    assert r.status_code == 200 and b'"usage":{' not in r.content  # the client did not ask for it
    assert fake.last("/v1/chat/completions").raw == raw[:-1] + b',"stream_options":{"include_usage":true}}'
    (row,) = served.wait_final(project)
    assert row["status"] == "ok" and row["output_tokens"] > 0
