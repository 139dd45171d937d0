from __future__ import annotations

import copy

from daemon.dialects import Dialect
from daemon.tools.schemas import GET_DOCUMENT, SEARCH, add_memory_tools, client_tool_names, is_ours

CLIENT_OPENAI = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CLIENT_ANTHROPIC = {"name": "get_weather", "input_schema": {"type": "object"}}


def test_openai_body_gets_both_tools_after_the_clients_and_the_input_is_untouched() -> None:
    body = {"model": "gpt-4o", "messages": [], "tools": [CLIENT_OPENAI]}
    before = copy.deepcopy(body)
    out = add_memory_tools(body, Dialect.OPENAI)
    assert body == before
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather", SEARCH, GET_DOCUMENT]
    search = out["tools"][1]["function"]["parameters"]["properties"]
    assert search["queries"]["maxItems"] == 5 and "containerTag" in search
    assert out["tools"][2]["function"]["parameters"]["required"] == ["id"]


def test_anthropic_body_without_tools_gets_anthropic_shaped_tools() -> None:
    out = add_memory_tools({"model": "claude-sonnet-4-5", "messages": []}, Dialect.ANTHROPIC)
    assert [t["name"] for t in out["tools"]] == [SEARCH, GET_DOCUMENT]
    assert all("input_schema" in t and "function" not in t for t in out["tools"])


def test_a_tool_the_client_defines_under_our_name_stays_the_clients() -> None:
    own = {"name": SEARCH, "description": "the client's own", "input_schema": {"type": "object"}}
    out = add_memory_tools({"messages": [], "tools": [CLIENT_ANTHROPIC, own]}, Dialect.ANTHROPIC)
    assert [t["name"] for t in out["tools"]] == ["get_weather", SEARCH, GET_DOCUMENT]
    assert out["tools"][1] is own
    names = client_tool_names({"tools": [CLIENT_ANTHROPIC, own]})
    assert not is_ours(SEARCH, names)
    assert is_ours(GET_DOCUMENT, names) and is_ours("supermemoryToolDelete", names)
    assert not is_ours("get_weather", names)
