"""A Claude-Code-shaped agentic session, as the cache-stability tests send it (in process and end to end).

24 tools, a long system prompt, and per turn a user question, a tool call, its result and an answer
about one of a few topics (so memory finds earlier turns and would change its block between steps).
"""

from __future__ import annotations

from typing import Any

TURNS = 20
SYSTEM = "You are Claude Code, an interactive CLI agent for software engineering tasks. " * 40
TOPICS = ["deploy", "staging database", "release notes", "the shop service", "flaky tests"]


def tools(dialect: str) -> list[dict[str, Any]]:
    """24 tools in `dialect`'s shape ("anthropic", "openai", or "responses": the Responses API's)."""
    out = []
    for n in range(24):
        description = f"Tool number {n} reads, edits and searches files in the workspace for the agent. " * 4
        schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
        if dialect == "anthropic":
            out.append({"name": f"tool_{n}", "description": description, "input_schema": schema})
        elif dialect == "responses":
            out.append({"type": "function", "name": f"tool_{n}", "description": description, "parameters": schema})
        else:
            out.append(
                {
                    "type": "function",
                    "function": {"name": f"tool_{n}", "description": description, "parameters": schema},
                }
            )
    return out


def question(turn: int) -> str:
    """The user's text at `turn`."""
    return f"Please look into {TOPICS[turn % len(TOPICS)]} for the shop project, item {turn}"


def answer(turn: int) -> str:
    """The assistant's final text at `turn` (after its tool round)."""
    return f"Looked into {TOPICS[turn % len(TOPICS)]}: item {turn} is fine for the shop project"
