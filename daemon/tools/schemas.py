"""The two memory tools the gateway offers the model, in each dialect's `tools` format.

A tool is "ours" when its name starts with `supermemoryTool` and the client did not define a tool of
that name itself: a client that brings its own `supermemoryToolSearch` keeps it, and the gateway
neither adds nor runs one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.dialects import Dialect

SEARCH = "supermemoryToolSearch"
GET_DOCUMENT = "supermemoryToolGetDocument"
TOOL_NAMES = (SEARCH, GET_DOCUMENT)
PREFIX = "supermemoryTool"
MAX_QUERIES = 5

_SEARCH_DESCRIPTION = (
    "Search the user's long-term memory for this project (earlier conversations, decisions, facts, "
    "preferences). Use it when the answer may depend on something said before. Returns up to a few "
    "memories with `id`, `text` and `score` (higher is better); long texts are cut, read them whole "
    f"with {GET_DOCUMENT}."
)
_GET_DESCRIPTION = f"Read one memory whole by the `id` that {SEARCH} returned. Returns `id`, `text` and `created_at`."

_SEARCH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to look for, in a few words."},
        "queries": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": MAX_QUERIES,
            "description": f"Several searches at once (1-{MAX_QUERIES}); use instead of `query`.",
        },
        "containerTag": {
            "type": "string",
            "description": "Optional: a sub-collection inside this project's memory to search only. "
            "Leave it out to search the whole memory.",
        },
    },
}
_GET_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string", "description": f"A memory id from {SEARCH}."}},
    "required": ["id"],
}

_DEFINITIONS = (
    (SEARCH, _SEARCH_DESCRIPTION, _SEARCH_PARAMETERS),
    (GET_DOCUMENT, _GET_DESCRIPTION, _GET_PARAMETERS),
)


def openai_tools() -> list[dict[str, Any]]:
    """Our tools as OpenAI Chat Completions `tools` entries."""
    return [
        {"type": "function", "function": {"name": name, "description": description, "parameters": params}}
        for name, description, params in _DEFINITIONS
    ]


def anthropic_tools() -> list[dict[str, Any]]:
    """Our tools as Anthropic Messages `tools` entries."""
    return [
        {"name": name, "description": description, "input_schema": params} for name, description, params in _DEFINITIONS
    ]


def tool_name(tool: Any) -> str | None:
    """The name of one `tools` entry in either dialect (None for entries without one)."""
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name")
    return name if isinstance(name, str) else None


def client_tool_names(body: dict[str, Any]) -> frozenset[str]:
    """The names of the tools the client itself offers in `body`."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return frozenset()
    return frozenset(n for n in (tool_name(t) for t in tools) if n is not None)


def is_ours(name: str, client_names: Iterable[str]) -> bool:
    """True when a call to `name` is for the gateway to run (see the module docstring)."""
    return name.startswith(PREFIX) and name not in client_names


def add_memory_tools(body: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """A copy of `body` that also offers our tools (any the client already defines are left alone)."""
    existing = client_tool_names(body)
    ours = anthropic_tools() if dialect == Dialect.ANTHROPIC else openai_tools()
    added = [t for t in ours if tool_name(t) not in existing]
    if not added:
        return dict(body)
    tools = body.get("tools")
    return {**body, "tools": [*(tools if isinstance(tools, list) else []), *added]}
