"""The overhead benchmark sends what real tools send (benchmarks/bodies.py) and judges each figure by its target."""

from __future__ import annotations

import json

from benchmarks import bodies
from benchmarks.report import _verdict


def test_the_claude_code_body_is_one_claude_code_sends() -> None:
    body = bodies.claude_code()
    size = len(bodies.encoded(body))
    assert 160_000 <= size <= 190_000, size
    assert len(body["tools"]) == 24 and all("input_schema" in t for t in body["tools"])
    assert all("cache_control" in block for block in body["system"])
    parts = [p for m in body["messages"] for p in (m["content"] if isinstance(m["content"], list) else [])]
    kinds = {p["type"] for p in parts}
    assert {"image", "tool_use", "tool_result", "text"} <= kinds
    assert body["messages"][0]["content"][0]["source"]["type"] == "base64"


def test_the_long_chat_has_tools_and_their_results() -> None:
    body = bodies.long_chat()
    assert 130_000 <= len(bodies.encoded(body)) <= 170_000
    roles = [m["role"] for m in body["messages"]]
    assert roles.count("tool") >= 20 and body["tools"]


def test_bodies_are_the_same_every_run_and_stream_when_asked() -> None:
    assert bodies.encoded(bodies.claude_code()) == bodies.encoded(bodies.claude_code())
    assert json.loads(bodies.encoded(bodies.small_chat(stream=True)))["stream"] is True


def test_a_target_is_met_or_missed_never_guessed() -> None:
    assert _verdict(0.2, 0.25, "max") == "met" and _verdict(0.3, 0.25, "max") == "MISSED"
    assert _verdict(6.0, 5, "min") == "met" and _verdict(float("nan"), 5, "min") == "n/a"
