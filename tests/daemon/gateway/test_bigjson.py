"""daemon.gateway.bigjson parses what json.loads parses, to the same values, in small steps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.gateway import bigjson

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=40,
)


@pytest.fixture(params=["whole", "walked"])
def steps(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "walked":  # every value longer than 2 characters walked, strings read 3 at a time
        monkeypatch.setattr(bigjson, "SMALL", 2)
        monkeypatch.setattr(bigjson, "STEP", 3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values, ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_the_same_values_as_json_loads(steps: None, value: Any, ascii_only: bool, indent: int | None) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    assert bigjson.loads(raw) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b'{"a": [1, 2,]}',
        b'{"a": 1} x',
        b'{"a": "\x01"}',
        b'{"a": "unterminated',
        b'{"a" 1}',
        b'{"a": "\\x"}',
        b"\xff\xfe",
        b"[" * 5000,
    ],
)
def test_what_json_refuses_is_refused(steps: None, raw: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)):
        bigjson.loads(raw)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud83d x", "\\ud83d\\u0041", "\\ud83d\\n"])
def test_a_lone_surrogate_escape_is_named(steps: None, escape: str) -> None:
    with pytest.raises(bigjson.LoneSurrogate):
        bigjson.loads(b'{"messages": [{"content": "say ' + escape.encode() + b'"}]}')


def test_a_paired_surrogate_escape_is_text(steps: None) -> None:
    assert bigjson.loads(b'{"a": "\\ud83d\\ude00!"}') == {"a": "\U0001f600!"}


def test_the_collector_is_paused_only_while_parsing() -> None:
    import gc

    assert gc.isenabled()
    assert bigjson.loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        bigjson.loads(b'{"a": ')
    assert gc.isenabled()
    with bigjson.collector_paused():
        with bigjson.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
