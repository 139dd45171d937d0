"""Memory for Gemini bodies: the question read from `contents`, the block placed in
`systemInstruction` or the last user entry, exactly; the caller's body never changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.dialects import Dialect
from daemon.memory.injection import inject
from daemon.memory.retrieval import build_query, conversation, last_user_text

CTX = "Relevant memories for this project:\n- I deploy on Fridays."


def _gemini(**extra: Any) -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "My name is Alice."}]},
            {"role": "model", "parts": [{"text": "thinking...", "thought": True}, {"text": "Hi."}]},
            {"role": "user", "parts": [{"text": "When do I deploy?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        **extra,
    }


def _injected(body: dict[str, Any], strategy: str) -> dict[str, Any]:
    before = copy.deepcopy(body)
    out = inject(body, CTX, strategy, Dialect.GEMINI)
    assert body == before and out is not body
    return out


def test_the_question_is_read_from_contents() -> None:
    messages = conversation(_gemini(), Dialect.GEMINI)
    assert last_user_text(messages, Dialect.GEMINI) == "When do I deploy?"
    assert build_query("first_user", messages, Dialect.GEMINI) == "My name is Alice."
    assert build_query("last_assistant", messages, Dialect.GEMINI) == "Hi."  # not the model's thought
    # a function result is not something the user asked
    tool_turn = {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {"out": "a"}}}]}
    assert last_user_text([*messages, tool_turn], Dialect.GEMINI) == "When do I deploy?"
    assert conversation({"messages": [{"role": "user"}]}, Dialect.GEMINI) == []


def test_system_puts_the_block_after_the_existing_text() -> None:
    """In the same text part: LiteLLM's adapter (any non-Gemini deployment) reads only the first one."""
    out = _injected(_gemini(), "system")
    assert out["systemInstruction"] == {"parts": [{"text": f"You are terse.\n\n{CTX}"}]}
    signed = {"parts": [{"text": "You are terse.", "thoughtSignature": "abc"}]}
    out = _injected(_gemini(systemInstruction=signed), "system")
    assert out["systemInstruction"]["parts"] == [*signed["parts"], {"text": CTX}]
    assert out["contents"] == _gemini()["contents"]
    bare = _injected({"contents": _gemini()["contents"]}, "system")
    assert bare["systemInstruction"] == {"parts": [{"text": CTX}]}
    snake = _injected({"contents": [], "system_instruction": {"parts": []}}, "system")
    assert snake["system_instruction"] == {"parts": [{"text": CTX}]} and "systemInstruction" not in snake


@pytest.mark.parametrize(
    ("strategy", "parts"), [("user_prefix", [CTX, "When do I deploy?"]), ("user_suffix", ["When do I deploy?", CTX])]
)
def test_user_strategies_place_the_block_in_the_last_user_entry(strategy: str, parts: list[str]) -> None:
    out = _injected(_gemini(), strategy)
    assert [p["text"] for p in out["contents"][-1]["parts"]] == parts
    assert out["contents"][:-1] == _gemini()["contents"][:-1]
    assert out["systemInstruction"] == _gemini()["systemInstruction"]


def test_a_function_response_part_stays_first_and_a_tool_only_turn_is_passed_over() -> None:
    result = {"functionResponse": {"name": "ls", "response": {}}}
    body = {"contents": [{"role": "user", "parts": [result, {"text": "and now?"}]}]}
    assert _injected(body, "user_prefix")["contents"][0]["parts"] == [result, {"text": CTX}, {"text": "and now?"}]
    tool_only = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "user", "parts": [result]}]}
    out = _injected(tool_only, "user_suffix")
    assert out["contents"][0]["parts"] == [{"text": "hi"}, {"text": CTX}] and out["contents"][1]["parts"] == [result]
    nothing = _injected({"contents": [{"role": "user", "parts": [result]}]}, "user_prefix")
    assert nothing["systemInstruction"] == {"parts": [{"text": CTX}]}
