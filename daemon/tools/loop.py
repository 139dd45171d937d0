"""The memory tool loop: the model calls our tools, the gateway runs them and asks again.

One round = one non-streaming model call. What happens next depends on the calls in its answer:

- none of ours: the answer goes to the client as it came (plain answers, client tool calls);
- all ours: they run concurrently, the assistant turn and every result are appended, and the model
  is asked again;
- mixed (ours and the client's): the answer goes to the client with OUR calls removed and the client's
  untouched (`finish_reason`/`stop_reason` stays `tool_calls`/`tool_use`). Ours are not run: the model
  needs results for every call of a turn before it can go on, and only the client can supply its own.
  The client sends its results back with a history that never mentions ours, which is a valid
  conversation; the model may search again on that next request.

At most `max_iterations` rounds of tool execution; if the model still asks for our tools after them,
the loop ends with a final assistant message that says so (`stop_reason` end_turn / `finish_reason`
stop). Upstream errors propagate from `call_model` unchanged: the caller maps them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.config.settings import ToolExecution
from daemon.cost import Usage
from daemon.dialects import Dialect
from daemon.errors import UpstreamFailed
from daemon.memory.base import MemoryBackend
from daemon.tools.execute import ToolResult, ToolRunner
from daemon.tools.schemas import add_memory_tools, client_tool_names, is_ours
from daemon.tools.turns import turns_for

CallModel = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Outcome = Literal["answer", "client_tools", "max_iterations"]

LOG = logging.getLogger("memproxy.tools")
LOGGED_ARGUMENTS = 300  # characters of a call's arguments in the debug log


@dataclass
class LoopResult:
    """The response for the client and what the loop cost (usage summed over every model call)."""

    response: dict[str, Any]
    rounds: int  # rounds in which memproxy ran memory tools: the databank's `tool_rounds`
    usage: Usage = field(default_factory=Usage)
    tool_calls: int = 0
    model_calls: int = 0
    outcome: Outcome = "answer"


def limit_note(rounds: int) -> str:
    """The final message of a loop stopped at `max_iterations`."""
    plural = "round" if rounds == 1 else "rounds"
    return (
        f"memproxy stopped the memory tool loop after {rounds} {plural} without a final answer "
        "(tool_execution.max_iterations). Ask again, perhaps more specifically."
    )


def loop_request(body: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The body the loop sends upstream: the client's, plus our tools, never streamed."""
    request = add_memory_tools(body, dialect)
    request["stream"] = False
    request.pop("stream_options", None)
    return request


async def run_tool_loop(
    body: dict[str, Any],
    dialect: Dialect,
    call_model: CallModel,
    backend: MemoryBackend,
    scope: str,
    settings: ToolExecution,
    log: logging.Logger = LOG,
    *,
    runner: ToolRunner | None = None,
    secrets: Iterable[str] = (),
) -> LoopResult:
    """Answer `body` (the client's own request, without our tools) with memory tools run server-side;
    no key in `secrets`, nor anything shaped like a key, is in what the tools return."""
    turns = turns_for(dialect)
    client_names = client_tool_names(body)
    request = loop_request(body, dialect)
    messages = list(request.get("messages") or [])
    runner = runner or ToolRunner(backend, scope, settings, secrets=secrets)
    result = LoopResult(response={}, rounds=0)
    while True:
        response = await call_model({**request, "messages": messages})
        result.model_calls += 1
        _add(result.usage, turns.usage(response))
        calls = turns.calls(response)
        mine = [is_ours(c.name, client_names) for c in calls]
        if not any(mine):
            result.response = response
            result.outcome = "client_tools" if calls else "answer"
            return result
        if not all(mine):
            result.response = turns.keep_calls(response, [not m for m in mine])
            result.outcome = "client_tools"
            return result
        if result.rounds >= settings.max_iterations:
            log.debug("tool loop stopped at max_iterations=%d", settings.max_iterations)
            result.response = turns.stopped(response, limit_note(result.rounds))
            result.outcome = "max_iterations"
            return result
        result.rounds += 1
        started = time.perf_counter()
        results = await runner.run_all(calls)
        result.tool_calls += len(results)
        _log_round(log, result.rounds, results, (time.perf_counter() - started) * 1000)
        messages = turns.continue_with(messages, response, results)


def _add(total: Usage, usage: Usage) -> None:
    total.input_tokens += usage.input_tokens
    total.output_tokens += usage.output_tokens
    total.cache_read_tokens += usage.cache_read_tokens
    total.cache_write_tokens += usage.cache_write_tokens
    total.cache_write_1h_tokens += usage.cache_write_1h_tokens
    total.reasoning_tokens += usage.reasoning_tokens
    total.service_tier = usage.service_tier or total.service_tier


def _log_round(log: logging.Logger, round: int, results: list[ToolResult], elapsed_ms: float) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    for r in results:
        arguments = r.call.arguments if isinstance(r.call.arguments, str) else json.dumps(r.call.arguments)
        if len(arguments) > LOGGED_ARGUMENTS:
            arguments = arguments[:LOGGED_ARGUMENTS] + "…"
        log.debug(
            "tool round=%d tool=%s arguments=%s duration_ms=%.1f result_chars=%d attempts=%d error=%s",
            round,
            r.call.name,
            arguments,
            r.duration_ms,
            len(r.content),
            r.attempts,
            r.error_type or "-",
        )
    log.debug("tool round=%d calls=%d duration_ms=%.1f", round, len(results), elapsed_ms)


def router_caller(router: Any, dialect: Dialect, extra_kwargs: dict[str, Any] | None = None) -> CallModel:
    """A `call_model` over a `litellm.Router`: `extra_kwargs` (api_key, extra_headers, ...) win over the body."""
    extra = dict(extra_kwargs or {})

    if dialect == Dialect.ANTHROPIC:

        async def call_anthropic(body: dict[str, Any]) -> dict[str, Any]:
            message = as_dict(await router.aanthropic_messages(**{**body, **extra}))
            if message.get("type") == "error":
                error = message.get("error") or {}
                raise UpstreamFailed(str(error.get("message") or "the upstream answered with an error"))
            return message

        return call_anthropic

    async def call_openai(body: dict[str, Any]) -> dict[str, Any]:
        return as_dict(await router.acompletion(**{**body, **extra}))

    return call_openai


def as_dict(response: Any) -> dict[str, Any]:
    """A provider response (LiteLLM model or dict) as a plain dict without null fields."""
    if isinstance(response, dict):
        return response
    dump = getattr(response, "model_dump", None)
    if dump is None:
        return dict(response)
    result: dict[str, Any] = dump(exclude_none=True)
    return result
