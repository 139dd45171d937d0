"""Query building, selection, formatting and model matching: pure functions, exact outputs."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.dialects import Dialect
from daemon.memory.base import Memory
from daemon.memory.retrieval import build_query, format_context, last_user_text, model_enabled, select

OPENAI_CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "My name is Alice."},
    {"role": "assistant", "content": "Hi Alice."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "When do I deploy?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "Be brief."},
        ],
    },
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "tool output is not a question"},
    {"role": "assistant", "content": [{"type": "text", "text": "On Fridays."}]},
]

ANTHROPIC_CHAT: list[dict[str, Any]] = [
    {"role": "user", "content": "My name is Alice."},
    {"role": "assistant", "content": [{"type": "text", "text": "Hi Alice."}]},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "When do I deploy?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "calendar", "input": {}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "Fri 17:00"}]},
        ],
    },
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("last_user", "When do I deploy?\nBe brief."),
        ("first_user", "My name is Alice."),
        ("all_user", "My name is Alice.\nWhen do I deploy?\nBe brief."),
        ("last_assistant", "On Fridays."),
    ],
)
def test_openai_query_strategies(strategy: str, expected: str) -> None:
    assert build_query(strategy, OPENAI_CHAT, Dialect.OPENAI) == expected


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        # The last user turn only carries a tool_result: the last one the user typed counts.
        ("last_user", "When do I deploy?"),
        ("first_user", "My name is Alice."),
        ("all_user", "My name is Alice.\nWhen do I deploy?"),
        ("last_assistant", "Let me check."),
    ],
)
def test_anthropic_query_strategies(strategy: str, expected: str) -> None:
    assert build_query(strategy, ANTHROPIC_CHAT, Dialect.ANTHROPIC) == expected


def test_last_assistant_on_a_first_turn_falls_back_to_the_user() -> None:
    assert build_query("last_assistant", [{"role": "user", "content": "hello"}], Dialect.OPENAI) == "hello"


@pytest.mark.parametrize("messages", [[], [{"role": "user", "content": ""}], [{"role": "user"}], ["junk", 3, None]])
def test_nothing_to_search_with_is_empty(messages: list[Any]) -> None:
    for strategy in ("last_user", "first_user", "all_user", "last_assistant"):
        assert build_query(strategy, messages, Dialect.OPENAI) == ""


def test_last_user_text_is_the_question_to_capture() -> None:
    assert last_user_text(ANTHROPIC_CHAT, Dialect.ANTHROPIC) == "When do I deploy?"


def _m(text: str, id: str = "1") -> Memory:
    return Memory(id=id, text=text, scope="project:shop", created_at="2025-01-01T00:00:00.000Z", score=1.0)


def test_select_cuts_to_max_results() -> None:
    memories = [_m("a", "1"), _m("b", "2"), _m("c", "3")]
    assert [m.id for m in select(memories, 2, 100)] == ["1", "2"]


def test_select_cuts_to_total_characters_without_splitting() -> None:
    memories = [_m("x" * 40, "1"), _m("y" * 40, "2"), _m("z" * 30, "3"), _m("w" * 10, "4")]
    # 40 + 40 = 80; the 30-character one does not fit whole and is skipped, the 10-character one does.
    assert [m.id for m in select(memories, 10, 90)] == ["1", "2", "4"]


def test_select_truncates_only_an_overlong_first_memory() -> None:
    chosen = select([_m("abcdefghij" * 10, "1"), _m("short", "2")], 5, 20)
    assert [(m.id, m.text) for m in chosen] == [("1", "abcdefghijabcdefghi…")]


@pytest.mark.parametrize(("max_results", "max_chars"), [(0, 100), (5, 0)])
def test_select_with_no_budget_is_empty(max_results: int, max_chars: int) -> None:
    assert select([_m("a")], max_results, max_chars) == []


def test_format_context() -> None:
    text = format_context([_m("I deploy on Fridays."), _m("Use the staging DB\nfirst.")])
    assert text == "Relevant memories for this project:\n- I deploy on Fridays.\n- Use the staging DB\n  first."
    assert format_context([]) == ""


@pytest.mark.parametrize(
    ("patterns", "model", "expected"),
    [
        ([], "anything", True),
        (["gpt-4o"], "gpt-4o", True),
        (["gpt-4o"], "gpt-4o-mini", False),
        (["claude-*"], "claude-sonnet-4-5", True),
        (["claude-*"], "gpt-4o", False),
        (["*mini*"], "gpt-4o-mini", True),
        (["*"], "x", True),
        (["gpt-[4]"], "gpt-4", False),  # only * is special
        (["gpt-[4]"], "gpt-[4]", True),
        (["o1", "claude-*"], "claude-haiku-4-5", True),
    ],
)
def test_model_enabled(patterns: list[str], model: str, expected: bool) -> None:
    assert model_enabled(patterns, model) is expected
