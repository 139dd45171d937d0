"""Token counting for `POST /v1/messages/count_tokens`, through LiteLLM: the provider's own counter
where LiteLLM has one for it, else LiteLLM's local tokenizer, in a thread (it is CPU work, offline)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daemon.errors import InvalidRequest
from daemon.gateway.llm import import_litellm, map_exception

log = logging.getLogger("memproxy.llm")


async def count_tokens(
    target: str,
    messages: list[Any],
    *,
    tools: Any = None,
    system: Any = None,
    api_key: str | None = None,
    api_base: str | None = None,
    ask_provider: bool = True,
) -> int:
    """Input tokens of an Anthropic Messages request (messages, tools and system as the client sent
    them): the provider's counting API where LiteLLM has one for it (Anthropic's, OpenAI's
    `/v1/responses/input_tokens`) and `ask_provider`, else, or if it fails, LiteLLM's local tokenizer
    in a thread. The provider gets the messages as Anthropic's: LiteLLM's `acount_tokens` takes them
    as Chat Completions', and OpenAI's counter then dropped every tool call and tool result."""
    litellm = import_litellm()
    if ask_provider:
        try:
            counted = await _provider_count(litellm, target, messages, tools, system, api_key, api_base)
        except Exception as exc:  # the local count is an answer too
            _failed(target, type(exc).__name__)
            counted = None
        if counted is not None:
            return counted
    local = [{"role": "system", "content": system_text(system)}, *messages] if system else messages
    try:
        return int(await asyncio.to_thread(litellm.token_counter, model=target, messages=local, tools=tools))
    except Exception as exc:
        raise map_exception(exc) from exc


async def _provider_count(
    litellm: Any, target: str, messages: list[Any], tools: Any, system: Any, api_key: str | None, api_base: str | None
) -> int | None:
    """The provider's own count, or None where LiteLLM has no counting API for it or the call failed."""
    from litellm.types.utils import LlmProviders
    from litellm.utils import ProviderConfigManager

    model, provider, found_key, found_base = litellm.get_llm_provider(model=target, api_key=api_key, api_base=api_base)
    info = ProviderConfigManager.get_provider_model_info(model=model, provider=LlmProviders(provider))
    counter = info.get_token_counter() if info is not None else None
    if counter is None or not counter.should_use_token_counting_api(provider):
        return None
    params = {"model": target, "api_key": api_key or found_key, "api_base": api_base or found_base}
    result = await counter.count_tokens(
        model_to_use=model,
        messages=messages,
        contents=None,
        deployment={"litellm_params": params},
        request_model=target,
        tools=tools,
        system=system,
        messages_format="anthropic",
    )
    if result is None or result.error:
        # the status only: a provider's message may quote the key the request presented
        _failed(target, getattr(result, "status_code", None) or "no count")
        return None
    return int(result.total_tokens)


def _failed(target: str, reason: object) -> None:
    log.info("the provider's token count for %s failed (%s); counting locally", target, reason)


def system_text(system: Any) -> str | None:
    """Anthropic's `system` (a string or text blocks) as one string."""
    if not isinstance(system, list):
        return system
    if not all(isinstance(b, dict) and isinstance(b.get("text", ""), str) for b in system):
        raise InvalidRequest("field 'system' must be text blocks")
    return "\n".join(b.get("text", "") for b in system)
