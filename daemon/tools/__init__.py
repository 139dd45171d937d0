"""Server-side memory tools: `supermemoryToolSearch` and `supermemoryToolGetDocument`, run by the gateway.

schemas   the two tool definitions in both dialects; `add_memory_tools`
execute   one call against the memory backend: arguments, scope, timeout, retries, error results
turns     how each dialect writes tool calls and results
loop      the loop (`run_tool_loop`) and a `call_model` over the LiteLLM Router
"""

from __future__ import annotations

from daemon.tools.loop import LoopResult, router_caller, run_tool_loop
from daemon.tools.schemas import GET_DOCUMENT, SEARCH, add_memory_tools

__all__ = [
    "GET_DOCUMENT",
    "SEARCH",
    "LoopResult",
    "add_memory_tools",
    "router_caller",
    "run_tool_loop",
]
