"""The causes of 5xx the property found, pinned one by one (KNOWN_5XX in tests/support/fuzzing.py
names these tests): deep nesting, NaN/Infinity, feature header values that cannot be sent, wrongly
typed fields, tracebacks in error messages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.daemon import Daemon
from tests.support.fuzzing import nested_json
from tests.support.hardening import USER
from tests.support.upstream.observing import ObservingUpstream
from tests.support.wire import raw_http, status_of

pytestmark = pytest.mark.e2e


# --- the causes of 5xx the property found, pinned one by one -------------------------------------------------


def _post_raw(daemon: Daemon, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{daemon.url}{path}", content=body, headers={"content-type": "application/json", **headers}, timeout=20
    )


@pytest.mark.regression(
    reason="BUG: daemon/body.py parse_json_object() catches JSONDecodeError and UnicodeDecodeError but not "
    "RecursionError: a 2 KB body of 1000 nested '[' makes json.loads raise it, answered 500 by the app's "
    "catch-all; fix: `except RecursionError: raise GatewayError(400, ..., 'nested too deeply')`",
    strict=True,
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/responses"])
def test_deeply_nested_json_is_a_400(daemon: Daemon, upstream: ObservingUpstream, path: str) -> None:
    r = _post_raw(daemon, path, b"[" * 5000 + b"]" * 5000)
    assert r.status_code == 400, r.text
    nested = nested_json(3000)
    assert _post_raw(daemon, path, nested).status_code == 400


NAN_BODIES = [
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}',
    b'{"model": "gpt-4o", "input": "hi", "temperature": -Infinity}',
]


@pytest.mark.regression(
    reason="BUG: daemon/body.py parse_json_object() uses json.loads, which accepts the non-JSON literals NaN, "
    "Infinity and -Infinity; LiteLLM then fails to serialise them ('Out of range float values are not JSON "
    "compliant') and the client gets a 502; fix: json.loads(raw, parse_constant=...) raising a 400",
    strict=True,
)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", NAN_BODIES[0]),
        ("/v1/chat/completions", NAN_BODIES[1]),
        ("/v1/responses", NAN_BODIES[2]),
    ],
)
def test_nan_and_infinity_are_a_400(daemon: Daemon, path: str, body: bytes) -> None:
    r = _post_raw(daemon, path, body)
    assert r.status_code == 400, r.text


@pytest.mark.regression(
    reason="BUG: daemon/passthrough.py plan() (fast path) and routes_anthropic.py FORWARDED_HEADERS (LiteLLM "
    "extra_headers) copy the client's anthropic-beta/anthropic-version/openai-beta values upstream unchecked; "
    "httpx raises UnicodeEncodeError for non-ASCII (answered 500, or 502 via LiteLLM) and h11 LocalProtocolError "
    "for a trailing space (502 'cannot reach the upstream'); fix: refuse (400) values that are not visible ASCII "
    "before building the request",
    strict=True,
)
@pytest.mark.parametrize(
    ("path", "model", "header", "value"),
    [
        ("/v1/chat/completions", "gpt-4o", "openai-beta", "caf\xe9"),
        ("/v1/messages", "claude-sonnet-4-5", "anthropic-beta", "\x80\x81"),
        ("/v1/messages", "claude-sonnet-4-5", "openai-beta", "trailing "),
        ("/v1/messages", "gpt-4o", "anthropic-beta", "\x80"),
    ],
)
def test_feature_header_values_that_cannot_be_sent_are_a_400(
    daemon: Daemon, path: str, model: str, header: str, value: str
) -> None:
    body = json.dumps({"model": model, "messages": USER, "max_tokens": 5}).encode()
    raw = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{header}: {value}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body
    answer = raw_http(daemon.port, raw)
    assert status_of(answer) == 400, answer[:400]


WRONG_TYPES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/embeddings", {"model": "gpt-4o", "input": "hi", "metadata": None}),
    ("/v1/embeddings", {"model": "gpt-4o", "input": "hi", "metadata": []}),
    ("/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": USER, "metadata": None}),
    ("/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": USER, "response_format": [None]}),
    ("/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": USER, "tools": [{}]}),
    ("/v1/messages", {"model": "gpt-4o", "messages": USER, "max_tokens": 5, "tool_choice": "NIL"}),
    ("/v1/responses", {"model": "gpt-4o", "input": False}),
    ("/v1/responses", {"model": "gpt-4o", "input": 0}),
    ("/v1/responses", {"model": "gpt-4o", "input": "hi", "tools": [["x"]]}),
    ("/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": USER, "system": [{"text": 5}]}),
]


@pytest.mark.regression(
    reason="BUG: the routes hand LiteLLM client fields whose type they never checked (daemon/validation.py "
    "_CHAT_TYPES/_MESSAGES_TYPES miss metadata on embeddings, response_format, tool_choice, stop; responses and "
    "embeddings check almost nothing), LiteLLM raises AttributeError/TypeError while building the call, and "
    "daemon/llm.py map_exception() turns any such local exception into a 502 'upstream call failed' (or, wrapped "
    "in APIConnectionError, 'cannot reach the upstream'); count_tokens joins system blocks' text unchecked "
    "(routes_anthropic.py, TypeError → 500); fix: type-check every forwarded field per route (400), and map "
    "exceptions raised before any byte went upstream to 400, not 502",
    strict=True,
)
@pytest.mark.parametrize(("path", "body"), WRONG_TYPES, ids=[f"{p}-{sorted(b)[-1]}" for p, b in WRONG_TYPES])
def test_wrongly_typed_fields_are_a_400(
    daemon: Daemon, upstream: ObservingUpstream, path: str, body: dict[str, Any]
) -> None:
    r = _post_raw(daemon, path, json.dumps(body).encode())
    assert r.status_code == 400, r.text


@pytest.mark.regression(
    reason="BUG: daemon/llm.py _clean_message() passes LiteLLM's exception text on whole; for local errors "
    "LiteLLM appends a Python traceback with the daemon's file paths ('Traceback (most recent call last): File "
    "\"/.../site-packages/litellm/main.py\"'), which the client receives; fix: cut the message at '\\nTraceback'",
    strict=True,
)
def test_error_messages_never_carry_a_traceback(daemon: Daemon) -> None:
    body = {"model": "claude-sonnet-4-5", "messages": USER, "response_format": [None]}
    r = _post_raw(daemon, "/v1/chat/completions", json.dumps(body).encode())
    assert r.status_code >= 400
    assert "Traceback" not in r.text and "site-packages" not in r.text, r.text
