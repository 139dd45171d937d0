"""JSON out on the request path (`daemon.gateway.encode`): orjson's bytes, json's where orjson refuses,
and the fast path's re-serialised body carrying what the client sent, number for number."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from daemon.gateway.encode import dumps
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream

BIG = 2**70  # beyond orjson's 64 bits


@pytest.mark.parametrize(
    "obj",
    [
        {"model": "m", "messages": [{"role": "user", "content": 'grüß dich, 世界 \u2028 "q" \\ \n'}]},
        {"n": [0, -1, 1.5, 1e-7, 2**63 - 1, -(2**63)], "t": True, "f": False, "z": None, "e": {}, "l": []},
        {"seed": BIG},
        {1: "a non-str key"},
        {"s": "\ud800"},  # a lone surrogate: escaped, as json writes it
    ],
)
def test_dumps_writes_what_json_reads_back_the_same(obj: object) -> None:
    assert json.loads(dumps(obj)) == json.loads(json.dumps(obj))


def test_dumps_is_compact_utf8() -> None:
    assert dumps({"a": ["é", 1]}) == '{"a":["é",1]}'.encode()


def test_dumps_writes_nan_as_null_and_refuses_what_json_refuses() -> None:
    assert dumps({"x": float("nan")}) == b'{"x":null}'
    with pytest.raises(TypeError):
        dumps({"x": object()})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("encode-home"), gateway_config(upstream.url))


def test_the_fast_path_reserialises_a_body_with_a_number_beyond_64_bits_unchanged(
    served: Served, fake: FakeUpstream, project: str
) -> None:
    # a stream without stream_options gets include_usage added: the body is written anew
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "metadata": {"note": "übergroß"},
        "messages": [{"role": "user", "content": "hi"}],
        "x_big": BIG,
    }
    raw = json.dumps(body)
    r = httpx.post(
        f"{served.url}/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json", "x-memproxy-project": project},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    sent = fake.last("/v1/chat/completions")
    assert sent.body["x_big"] == BIG
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == body["messages"] and sent.body["metadata"] == body["metadata"]
