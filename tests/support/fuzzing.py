"""The hostile requests of the fuzz package (tests/hardening/fuzz/): Hypothesis strategies for raw
HTTP/1.1 requests (bodies: random bytes, JSON of wrong shapes, requests with mutated fields, deep
nesting, other encodings; headers: random names and values, identity headers; Content-Length: right,
short, long, missing, garbage, doubled; chunked, broken chunked), their rendering to bytes, and the 5xx
causes already pinned by a test."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

MAX_BODY = 65536  # general_settings.max_body_bytes of the fuzzed daemon

PATHS = [
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/models",
    "/chat/completions",
    "/messages",
    "/health",
    "/memory-routing/info",
    "/metrics",
]


# --- strategies --------------------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
blocks = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image", "image_url", "tool_use", "tool_result", "thinking"]) | scalars},
        optional={k: json_values for k in ("text", "source", "image_url", "id", "input", "content", "cache_control")},
    ),
    max_size=3,
)
messages = (
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "tool", "developer", "x"]) | json_values},
            optional={
                "content": st.text(max_size=40) | blocks | json_values,
                "tool_calls": json_values,
                "tool_call_id": json_values,
                "name": json_values,
            },
        ),
        max_size=4,
    )
    | json_values
)
models = st.sampled_from(["gpt-4o", "claude-sonnet-4-5", "byok-x", "nope", "", "gpt-*", "../x", "gpt-4o\x00"]) | scalars
requests_ = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "messages": messages,
        "max_tokens": st.integers(-5, 2**70) | scalars,
        "stream": st.booleans() | scalars,
        "temperature": st.floats() | scalars,
        "tools": json_values,
        "tool_choice": json_values,
        "system": st.text(max_size=30) | blocks | json_values,
        "metadata": json_values,
        "stream_options": json_values,
        "input": json_values,
        "n": scalars,
        "stop": json_values,
    },
)


def nested_json(depth: int) -> bytes:
    inner = "[" * depth + "]" * depth
    return (
        json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}).encode()[:-1]
        + (f', "extra": {inner}}}').encode()
    )


bodies = st.one_of(
    requests_.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    requests_.map(lambda d: json.dumps(d).encode("utf-16")),
    requests_.map(lambda d: b"\xef\xbb\xbf" + json.dumps(d).encode()),
    requests_.map(lambda d: json.dumps(d, ensure_ascii=False).encode("latin-1", "replace")),
    st.integers(1, 20000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(nested_json),
    st.just(b'{"model": "gpt-4o", "messages": ' + b"[" * 100 + b"\xff\xfe"),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-_0123456789!#$%&'*+.^`|~"), min_size=1, max_size=20)
length_modes = st.sampled_from(
    ["exact", "exact", "exact", "missing", "short", "long", "garbage", "double", "chunked", "chunked-bad", "te+cl"]
)


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    length: str
    encoding: str | None


headers_ = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["content-type"]), st.sampled_from(["application/json", "text/plain", ""])),
        st.tuples(st.just("x-memproxy-project"), header_text),
        st.tuples(st.just("x-memory-user-id"), header_text),
        st.tuples(st.just("user-agent"), header_text),
        st.tuples(st.sampled_from(["authorization", "x-api-key"]), header_text),
        st.tuples(st.sampled_from(["anthropic-beta", "anthropic-version", "openai-beta"]), header_text),
        st.tuples(token, header_text),
    ),
    max_size=5,
).map(tuple)
encodings = st.none() | st.sampled_from(["gzip", "deflate", "br", "identity", "x-bogus"])

random_cases = st.builds(
    Case,
    method=st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "OPTIONS", "PATCH"]),
    path=st.sampled_from(PATHS) | st.sampled_from(PATHS).map(lambda p: p + "?x=%ff") | token.map(lambda t: "/" + t),
    headers=headers_,
    body=bodies,
    length=length_modes,
    encoding=encodings,
)

# A valid request for each generating route, then up to three fields replaced by anything: these get
# past the shape checks into the gateway's pipeline and LiteLLM's translation, where crashes hide.
ASK = [{"role": "user", "content": "hi"}]
VALID: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": ASK}),
    ("/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": ASK}),
    ("/v1/messages", {"model": "claude-sonnet-4-5", "messages": ASK, "max_tokens": 5}),
    ("/v1/messages", {"model": "gpt-4o", "messages": ASK, "max_tokens": 5}),
    ("/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": ASK}),
    ("/v1/embeddings", {"model": "gpt-4o", "input": "hi"}),
    ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
]
MUTABLE = {
    "messages": messages,
    "stream": st.booleans() | scalars,
    "max_tokens": st.integers(-5, 2**70) | scalars,
    "temperature": st.floats() | scalars,
    "tools": st.lists(st.dictionaries(st.sampled_from(["type", "name", "function", "input_schema"]), json_values))
    | json_values,
    "tool_choice": json_values,
    "system": st.text(max_size=30) | blocks | json_values,
    "metadata": json_values,
    "stream_options": json_values,
    "thinking": json_values,
    "response_format": json_values,
    "input": json_values,
    "stop": json_values,
    "n": scalars,
    "user": json_values,
    "model": models,
}
mutations = st.dictionaries(st.sampled_from(sorted(MUTABLE)), st.just(None), max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: MUTABLE[k] for k in keys})
)


@st.composite
def near_valid_cases(draw: st.DrawFn) -> Case:
    path, base = draw(st.sampled_from(VALID))
    body = {**base, **draw(mutations)}
    return Case(
        method="POST",
        path=path,
        headers=draw(headers_),
        body=json.dumps(body).encode(),
        length=draw(st.sampled_from(["exact"] * 6 + ["chunked", "short", "missing"])),
        encoding=None,
    )


cases = st.one_of(random_cases, near_valid_cases(), near_valid_cases())


def render_case(case: Case, port: int) -> tuple[bytes, bool]:
    """The raw request bytes, and whether to half-close after sending them."""
    body = case.body
    if case.encoding == "gzip":
        body = gzip.compress(body)
    lines = [f"{case.method} {case.path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in case.headers]
    if case.encoding:
        lines.append(f"Content-Encoding: {case.encoding}")
    half_close = False
    if case.length == "exact":
        lines.append(f"Content-Length: {len(body)}")
    elif case.length == "short":
        lines.append(f"Content-Length: {max(0, len(body) - 7)}")
    elif case.length == "long":
        lines.append(f"Content-Length: {len(body) + 50}")
        half_close = True
    elif case.length == "garbage":
        lines.append(f"Content-Length: {['abc', '-5', '1e3', ' 12', '+5', '0x10', ''][len(body) % 7]}")
    elif case.length == "double":
        lines += [f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"]
    elif case.length in ("chunked", "chunked-bad", "te+cl"):
        lines.append("Transfer-Encoding: chunked")
        if case.length == "te+cl":
            lines.append(f"Content-Length: {len(body)}")
        if case.length == "chunked-bad":
            body = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
        else:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, half_close


# 5xx answers whose cause is known and pinned by a deterministic test in tests/hardening/fuzz/test_pinned_causes.py:
# counted, not failed on, so the property keeps hunting for new causes.
# Each entry: a substring of the answer → the test.
KNOWN_5XX = {
    "RecursionError": "test_deeply_nested_json_is_a_400",
    "Out of range float values": "test_nan_and_infinity_are_a_400",
    "UnicodeEncodeError": "test_feature_header_values_that_cannot_be_sent_are_a_400",
    "Illegal header value": "test_feature_header_values_that_cannot_be_sent_are_a_400",
    "codec can't encode": "test_feature_header_values_that_cannot_be_sent_are_a_400",
    "upstream call failed: AttributeError": "test_wrongly_typed_fields_are_a_400",
    "upstream call failed: TypeError": "test_wrongly_typed_fields_are_a_400",
    "upstream call failed: KeyError": "test_wrongly_typed_fields_are_a_400",
    "upstream call failed: ValueError": "test_wrongly_typed_fields_are_a_400",
    "Unsupported response_format type": "test_wrongly_typed_fields_are_a_400",
    "object is not iterable": "test_wrongly_typed_fields_are_a_400",
    "memproxy failed unexpectedly: TypeError": "test_wrongly_typed_fields_are_a_400",
    "Traceback (most recent call last)": "test_wrongly_typed_fields_are_a_400",
}
