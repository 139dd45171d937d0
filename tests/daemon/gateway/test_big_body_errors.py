"""A big body (parsed off the loop, in steps) is refused in the same words as a small one."""

from __future__ import annotations

import asyncio

import pytest

from daemon.errors import InvalidRequest
from daemon.gateway.body import BIG_BODY_BYTES, parse_body, parse_json_object

PAD = b'{"pad": "' + b"x" * BIG_BODY_BYTES + b'",\n "messages": [{"role": "user", "content": '


@pytest.mark.parametrize(
    "tail",
    [
        b'"hi"}],}',  # trailing comma in an object
        b'"hi",]}',  # trailing comma in an array
        b'"hi"} "x": 1}',  # a missing comma
        b'"hi" 5}]}',
        b'"hi"}]',  # unterminated object
        b'"hi\x01"}]}',  # a control character
        b'"hi\\q"}]}',  # a bad escape
        b'"hi',  # unterminated string
        b"NaN}]}",
        b"-Infinity}]}",
        b'"\\ud800"}]}',
        b'"hi"}]} trailing',
        b'"caf\xe9"}]}',  # latin-1, not UTF-8
    ],
)
def test_the_same_error_as_a_small_body(tail: bytes) -> None:
    raw = PAD + tail
    with pytest.raises(InvalidRequest) as small:
        parse_json_object(raw)
    with pytest.raises(InvalidRequest) as big:
        asyncio.run(parse_body(raw))
    assert big.value.message == small.value.message


def test_a_big_body_gives_the_same_object() -> None:
    raw = PAD + b'"h\\u00e9 \\ud83d\\ude00"}], "n": [1, 2.5, -3e5, true, null]}'
    assert asyncio.run(parse_body(raw)) == parse_json_object(raw)


def test_a_big_body_that_is_no_object_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        asyncio.run(parse_body(b"[" + b"1," * BIG_BODY_BYTES + b"1]"))
