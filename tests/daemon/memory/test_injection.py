"""Where the memory block lands in each dialect's body, exactly; the caller's body never changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.dialects import Dialect
from daemon.memory.injection import inject, inject_anthropic, inject_openai

CTX = "Relevant memories for this project:\n- I deploy on Fridays."


def _openai(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "My name is Alice."},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "When do I deploy?"},
        ],
        **extra,
    }


def _anthropic(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "My name is Alice."},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi."}]},
            {"role": "user", "content": [{"type": "text", "text": "When do I deploy?"}]},
        ],
        **extra,
    }


def _unchanged(fn: Any, body: dict[str, Any], *args: Any) -> dict[str, Any]:
    before = copy.deepcopy(body)
    out = fn(body, *args)
    assert body == before, "the caller's body was modified"
    assert out is not body
    return out


# --- OpenAI ------------------------------------------------------------------------------------


def test_openai_system_prepends_a_system_message() -> None:
    out = _unchanged(inject_openai, _openai(), CTX, "system")
    assert out["messages"][0] == {"role": "system", "content": CTX}
    assert out["messages"][1:] == _openai()["messages"]
    assert out["model"] == "gpt-4o"


def test_openai_system_extends_an_existing_system_message() -> None:
    body = _openai()
    body["messages"].insert(0, {"role": "system", "content": "You are terse."})
    out = _unchanged(inject_openai, body, CTX, "system")
    assert out["messages"][0] == {"role": "system", "content": f"You are terse.\n\n{CTX}"}
    assert len(out["messages"]) == 4


def test_openai_system_extends_a_system_message_made_of_parts() -> None:
    body = _openai()
    body["messages"].insert(0, {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]})
    out = _unchanged(inject_openai, body, CTX, "system")
    assert out["messages"][0] == {
        "role": "developer",
        "content": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": CTX}],
    }


def test_openai_user_prefix() -> None:
    out = _unchanged(inject_openai, _openai(), CTX, "user_prefix")
    assert out["messages"][-1] == {"role": "user", "content": f"{CTX}\n\nWhen do I deploy?"}
    assert out["messages"][:2] == _openai()["messages"][:2]


def test_openai_user_suffix() -> None:
    out = _unchanged(inject_openai, _openai(), CTX, "user_suffix")
    assert out["messages"][-1] == {"role": "user", "content": f"When do I deploy?\n\n{CTX}"}


def test_openai_user_strategies_with_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    body = _openai()
    body["messages"][-1] = {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}
    prefix = _unchanged(inject_openai, body, CTX, "user_prefix")
    assert prefix["messages"][-1]["content"] == [
        image,
        {"type": "text", "text": CTX},
        {"type": "text", "text": "What is this?"},
    ]
    suffix = _unchanged(inject_openai, body, CTX, "user_suffix")
    assert suffix["messages"][-1]["content"] == [
        image,
        {"type": "text", "text": "What is this?"},
        {"type": "text", "text": CTX},
    ]


def test_openai_user_strategy_skips_trailing_tool_messages() -> None:
    body = _openai()
    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    out = _unchanged(inject_openai, body, CTX, "user_suffix")
    assert out["messages"][2] == {"role": "user", "content": f"When do I deploy?\n\n{CTX}"}
    assert out["messages"][3:] == body["messages"][3:]


def test_openai_user_strategy_without_user_text_falls_back_to_system() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": ""}]}
    out = _unchanged(inject_openai, body, CTX, "user_prefix")
    assert out["messages"] == [{"role": "system", "content": CTX}, {"role": "user", "content": ""}]


# --- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_system_without_system() -> None:
    out = _unchanged(inject_anthropic, _anthropic(), CTX, "system")
    assert out["system"] == CTX
    assert out["messages"] == _anthropic()["messages"]


def test_anthropic_system_string() -> None:
    out = _unchanged(inject_anthropic, _anthropic(system="You are terse."), CTX, "system")
    assert out["system"] == f"You are terse.\n\n{CTX}"


def test_anthropic_system_blocks_keep_cache_control_and_memory_goes_last() -> None:
    system = [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Project rules...", "cache_control": {"type": "ephemeral"}},
    ]
    out = _unchanged(inject_anthropic, _anthropic(system=system), CTX, "system")
    assert out["system"] == [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Project rules...", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": CTX},
    ]


def test_anthropic_user_prefix() -> None:
    out = _unchanged(inject_anthropic, _anthropic(), CTX, "user_prefix")
    assert out["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": CTX}, {"type": "text", "text": "When do I deploy?"}],
    }
    assert "system" not in out


def test_anthropic_user_suffix() -> None:
    out = _unchanged(inject_anthropic, _anthropic(), CTX, "user_suffix")
    assert out["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "When do I deploy?"}, {"type": "text", "text": CTX}],
    }


def test_anthropic_user_string_content() -> None:
    body = _anthropic()
    body["messages"][-1] = {"role": "user", "content": "When do I deploy?"}
    assert _unchanged(inject_anthropic, body, CTX, "user_prefix")["messages"][-1]["content"] == (
        f"{CTX}\n\nWhen do I deploy?"
    )
    assert _unchanged(inject_anthropic, body, CTX, "user_suffix")["messages"][-1]["content"] == (
        f"When do I deploy?\n\n{CTX}"
    )


def test_anthropic_tool_result_only_turns_are_left_alone() -> None:
    body = _anthropic()
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "calendar", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Fri"}]},
    ]
    out = _unchanged(inject_anthropic, body, CTX, "user_prefix")
    assert out["messages"][-1] == body["messages"][-1]
    assert out["messages"][2]["content"] == [
        {"type": "text", "text": CTX},
        {"type": "text", "text": "When do I deploy?"},
    ]


def test_anthropic_prefix_keeps_tool_results_first_and_cache_control() -> None:
    body = _anthropic()
    body["messages"][-1] = {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "Fri"},
            {"type": "text", "text": "And next week?", "cache_control": {"type": "ephemeral"}},
        ],
    }
    out = _unchanged(inject_anthropic, body, CTX, "user_prefix")
    assert out["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "Fri"},
        {"type": "text", "text": CTX},
        {"type": "text", "text": "And next week?", "cache_control": {"type": "ephemeral"}},
    ]


def test_anthropic_user_strategy_without_user_text_falls_back_to_system() -> None:
    body = {"model": "claude-sonnet-4-5", "system": "S", "messages": [{"role": "user", "content": []}]}
    out = _unchanged(inject_anthropic, body, CTX, "user_suffix")
    assert out["system"] == f"S\n\n{CTX}"
    assert out["messages"] == body["messages"]


# --- both --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["system", "user_prefix", "user_suffix"])
def test_empty_context_changes_nothing(strategy: str) -> None:
    assert _unchanged(inject_openai, _openai(), "", strategy) == _openai()
    assert _unchanged(inject_anthropic, _anthropic(), "", strategy) == _anthropic()


def test_inject_dispatches_by_dialect() -> None:
    assert inject(_anthropic(), CTX, "system", Dialect.ANTHROPIC)["system"] == CTX
    assert inject(_openai(), CTX, "system", Dialect.OPENAI)["messages"][0] == {"role": "system", "content": CTX}
