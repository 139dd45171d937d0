"""Placing the memory block in a request body, per `injection_strategy`: pure functions.

Each returns a NEW body and leaves the caller's untouched (the original is what gets logged and
captured). Only the containers on the path to the change are copied, so a large conversation is not
deep-copied on every request.

- `system`: OpenAI gets the block at the end of its first system message (or a new system message
  in front); Anthropic gets it as a text block appended AFTER every existing `system` block, so
  blocks marked `cache_control` keep their exact prefix and prompt caching keeps hitting.
- `user_prefix` / `user_suffix`: the block goes before or after the text of the last user message
  that has text. Anthropic user turns that only carry `tool_result` blocks are passed over (text
  there would not be the user's, and a tool result must lead its message). A conversation without
  any user text gets the block in the system prompt instead, so it is never silently dropped.
- Responses API (Codex): the conversation is `input` (a string, or items whose user text parts are
  `input_text`); `system` means `instructions`.
- Gemini: `system` puts the block at the end of `systemInstruction` (after its text, for the same
  cache reason; inside its last text part, as LiteLLM's adapter reads only a system's first part);
  the user strategies work on the last `user` entry of `contents` with text parts, the block going
  before its first text part (a `functionResponse` part stays first) or after all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.dialects import Dialect
from daemon.memory.retrieval import TEXT_PARTS, conversation, is_responses, message_text

INJECTION_STRATEGIES = ("system", "user_prefix", "user_suffix")
_SYSTEM_ROLES = ("system", "developer")


def _text_part(context: str) -> dict[str, Any]:
    return {"type": "text", "text": context}


def _last_user_with_text(messages: list[Any]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user" and message_text(message):
            return index
    return None


def _around_text(content: Any, context: str, prefix: bool, kind: str = "text") -> Any:
    """`content` (str or list of parts/blocks) with `context` before its text or after all of it, as
    a part of type `kind` (the Responses API's user parts are `input_text`)."""
    if isinstance(content, str):
        return f"{context}\n\n{content}" if prefix else f"{content}\n\n{context}"
    parts = list(content)
    part = {"type": kind, "text": context}
    if not prefix:
        return [*parts, part]
    # Before the first text part: leading tool_result blocks must stay first.
    first_text = next(i for i, p in enumerate(parts) if isinstance(p, dict) and p.get("type") in TEXT_PARTS)
    return [*parts[:first_text], part, *parts[first_text:]]


def _into_user(body: dict[str, Any], context: str, prefix: bool) -> dict[str, Any] | None:
    messages = list(body.get("messages") or [])
    index = _last_user_with_text(messages)
    if index is None:
        return None
    message = messages[index]
    messages[index] = {**message, "content": _around_text(message["content"], context, prefix)}
    return {**body, "messages": messages}


def _openai_system(body: dict[str, Any], context: str) -> dict[str, Any]:
    messages = list(body.get("messages") or [])
    first = messages[0] if messages else None
    if isinstance(first, dict) and first.get("role") in _SYSTEM_ROLES:
        content = first.get("content")
        if isinstance(content, list):
            new_content: Any = [*content, _text_part(context)]
        else:
            new_content = f"{content}\n\n{context}" if content else context
        messages[0] = {**first, "content": new_content}
    else:
        messages.insert(0, {"role": "system", "content": context})
    return {**body, "messages": messages}


def _anthropic_system(body: dict[str, Any], context: str) -> dict[str, Any]:
    system = body.get("system")
    if isinstance(system, list):
        new_system: Any = [*system, _text_part(context)]
    elif isinstance(system, str) and system:
        new_system = f"{system}\n\n{context}"
    else:
        new_system = context
    return {**body, "system": new_system}


# (body, context, prefix?) -> the body with context in its last user turn, None when none has text
UserPlacer = Callable[[dict[str, Any], str, bool], "dict[str, Any] | None"]
SystemPlacer = Callable[[dict[str, Any], str], dict[str, Any]]


def _placed(
    body: dict[str, Any], context: str, strategy: str, user: UserPlacer, system: SystemPlacer
) -> dict[str, Any]:
    """`context` in the last user turn for the user strategies (when one has text), else by `system`."""
    if not context:
        return dict(body)
    if strategy in ("user_prefix", "user_suffix"):
        placed = user(body, context, strategy == "user_prefix")
        if placed is not None:
            return placed
    return system(body, context)


def _responses_user(body: dict[str, Any], context: str, prefix: bool) -> dict[str, Any] | None:
    items = conversation(body, Dialect.OPENAI)
    users = [i for i, m in enumerate(items) if isinstance(m, dict) and m.get("role") == "user" and message_text(m)]
    return inject_at(body, {users[-1]: context}, prefix, Dialect.OPENAI) if users else None


def _responses_system(body: dict[str, Any], context: str) -> dict[str, Any]:
    instructions = body.get("instructions")
    return {**body, "instructions": f"{instructions}\n\n{context}" if instructions else context}


def inject_openai(body: dict[str, Any], context: str, strategy: str) -> dict[str, Any]:
    """A Chat Completions (or Responses: `input`, `instructions`) body with `context` placed by
    `strategy`; `body` is not modified."""
    if is_responses(body):
        return _placed(body, context, strategy, _responses_user, _responses_system)
    return _placed(body, context, strategy, _into_user, _openai_system)


def inject_anthropic(body: dict[str, Any], context: str, strategy: str) -> dict[str, Any]:
    """A Messages body with `context` placed by `strategy`; `body` is not modified."""
    return _placed(body, context, strategy, _into_user, _anthropic_system)


def _gemini_user(body: dict[str, Any], context: str, prefix: bool) -> dict[str, Any] | None:
    contents = list(body.get("contents") or [])
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        if not message_text(content, Dialect.GEMINI):
            continue
        parts = list(content.get("parts") or [])
        if prefix:
            first = next(i for i, p in enumerate(parts) if isinstance(p, dict) and isinstance(p.get("text"), str))
            parts.insert(first, {"text": context})
        else:
            parts.append({"text": context})
        contents[index] = {**content, "parts": parts}
        return {**body, "contents": contents}
    return None


def _gemini_system(body: dict[str, Any], context: str) -> dict[str, Any]:
    snake = "system_instruction" in body and "systemInstruction" not in body
    key = "system_instruction" if snake else "systemInstruction"
    system = body.get(key)
    if isinstance(system, dict):
        parts = list(system.get("parts") or [])
        last = parts[-1] if parts else None
        if isinstance(last, dict) and isinstance(last.get("text"), str) and set(last) == {"text"}:
            # after the text, in the same part: LiteLLM's adapter reads only a system's first part
            parts[-1] = {"text": f"{last['text']}\n\n{context}"}
        else:
            parts.append({"text": context})
        new_system: Any = {**system, "parts": parts}
    elif isinstance(system, str) and system:
        new_system = f"{system}\n\n{context}"
    else:
        new_system = {"parts": [{"text": context}]}
    return {**body, key: new_system}


def inject_gemini(body: dict[str, Any], context: str, strategy: str) -> dict[str, Any]:
    """A generateContent body with `context` placed by `strategy`; `body` is not modified."""
    return _placed(body, context, strategy, _gemini_user, _gemini_system)


def inject_at(body: dict[str, Any], blocks: dict[int, str], prefix: bool, dialect: Dialect) -> dict[str, Any]:
    """`body` with `blocks[i]` before (`prefix`) or after the text of message `i` (user messages with
    text; Gemini: `contents`); `body` is not modified."""
    responses = dialect == Dialect.OPENAI and is_responses(body)
    if responses and isinstance(body["input"], str):  # one user message, as a string
        return {**body, "input": _around_text(body["input"], blocks[0], prefix)} if blocks else dict(body)
    key = "contents" if dialect == Dialect.GEMINI else "input" if responses else "messages"
    messages = list(body.get(key) or [])
    for index, context in blocks.items():
        message = messages[index]
        if responses:
            kind = "input_text" if isinstance(message.get("content"), list) else "text"
            messages[index] = {**message, "content": _around_text(message["content"], context, prefix, kind)}
            continue
        if dialect == Dialect.GEMINI:
            parts = list(message.get("parts") or [])
            text_at = [i for i, p in enumerate(parts) if isinstance(p, dict) and isinstance(p.get("text"), str)]
            parts.insert(text_at[0] if prefix else len(parts), {"text": context})
            messages[index] = {**message, "parts": parts}
        else:
            messages[index] = {**message, "content": _around_text(message["content"], context, prefix)}
    return {**body, key: messages}


def inject(body: dict[str, Any], context: str, strategy: str, dialect: Dialect) -> dict[str, Any]:
    """`inject_openai`, `inject_anthropic` or `inject_gemini`, by `dialect`."""
    if dialect == Dialect.ANTHROPIC:
        return inject_anthropic(body, context, strategy)
    if dialect == Dialect.GEMINI:
        return inject_gemini(body, context, strategy)
    return inject_openai(body, context, strategy)
