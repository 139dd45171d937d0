"""What to search memory with, which memories to keep, and how they read in a prompt: pure functions.

Messages come in three dialects. OpenAI: `content` is a string or a list of parts, of which
`{"type": "text", "text": ...}` count. Anthropic: `content` is a string or a list of blocks, of which
only `text` blocks count (`tool_use`, `tool_result`, `image`, `thinking` are not something the user
asked); Anthropic's `system` is outside `messages` and never part of a query. Gemini: the
conversation is `contents`, each with `parts`, of which `{"text": ...}` count (not a model's
`thought`); its roles are `user` (the default) and `model`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from daemon.dialects import Dialect
from daemon.memory.base import Memory
from daemon.memory.fts import query_terms, words

QUERY_STRATEGIES = ("last_user", "first_user", "all_user", "last_assistant")
DEFAULT_HEADING = "Relevant memories for this project:"
_ELLIPSIS = "…"
# the content parts that are text: Chat Completions and Anthropic `text`, the Responses API's own two
TEXT_PARTS = ("text", "input_text", "output_text")


def is_responses(body: Mapping[str, Any]) -> bool:
    """A Responses API body (Codex): the conversation is `input`, the system prompt `instructions`."""
    return "input" in body and "messages" not in body


def conversation(body: Mapping[str, Any], dialect: Dialect) -> list[Any]:
    """The messages of a request body: `messages`, Gemini's `contents`, or a Responses body's `input`
    (a string is one user message)."""
    if dialect is Dialect.OPENAI and is_responses(body):
        given = body["input"]
        if isinstance(given, str):
            return [{"role": "user", "content": given}]
        return given if isinstance(given, list) else []
    found = body.get("contents" if dialect is Dialect.GEMINI else "messages")
    return found if isinstance(found, list) else []


def _gemini_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, Mapping) and isinstance(part.get("text"), str) and not part.get("thought")
    ]
    return "\n".join(t.strip() for t in texts if t.strip())


def role_of(message: Mapping[str, Any], dialect: Dialect) -> Any:
    """`user`, `assistant`, `system`, ... (Gemini's `model` is `assistant`, its default `user`)."""
    role = message.get("role")
    if dialect is Dialect.GEMINI:
        return "assistant" if role == "model" else role or "user"
    return role


def message_text(message: Mapping[str, Any], dialect: Dialect = Dialect.OPENAI) -> str:
    """The plain text of one message (text parts or blocks joined by newlines); "" if it has none."""
    if dialect is Dialect.GEMINI:
        return _gemini_text(message.get("parts"))
    content = message.get("content")
    if isinstance(content, str):
        return content.strip()
    if not isinstance(content, list):
        return ""
    texts = [
        part["text"]
        for part in content
        if isinstance(part, Mapping) and part.get("type") in TEXT_PARTS and isinstance(part.get("text"), str)
    ]
    return "\n".join(t.strip() for t in texts if t.strip())


def _texts(messages: Iterable[Any], role: str, dialect: Dialect) -> list[str]:
    found = []
    for message in messages:
        if isinstance(message, Mapping) and role_of(message, dialect) == role:
            text = message_text(message, dialect)
            if text:
                found.append(text)
    return found


def _last_text(messages: Sequence[Any], role: str, dialect: Dialect) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and role_of(message, dialect) == role:
            text = message_text(message, dialect)
            if text:
                return text
    return ""


def build_query(strategy: str, messages: Sequence[Any], dialect: Dialect = Dialect.OPENAI) -> str:
    """The search query `query_strategy` makes of a conversation; "" when there is nothing to search with.

    `last_assistant` searches with what the model said last (useful for follow-ups like "and then?");
    on a first turn there is no such message, so it falls back to the last user message.
    """
    if strategy == "last_user":  # from the end: a long conversation's earlier turns are not read
        return _last_text(messages, "user", dialect)
    users = _texts(messages, "user", dialect)
    if strategy == "first_user":
        return users[0] if users else ""
    if strategy == "all_user":
        return "\n".join(users)
    if strategy == "last_assistant":
        assistants = _texts(messages, "assistant", dialect)
        if assistants:
            return assistants[-1]
    return users[-1] if users else ""


def last_user_text(messages: Sequence[Any], dialect: Dialect = Dialect.OPENAI) -> str:
    """The text of the last user message that has any: the question a capture stores."""
    return build_query("last_user", messages, dialect)


_SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    """A crude stem, so "deploying", "deploys" and "deployed" match "deploy" (as porter does in FTS)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def matched_ratio(query: str, text: str) -> float:
    """The share of the query's search terms (stopwords aside) that `text` contains, stemmed."""
    return _ratio({_stem(t) for t in query_terms(query)}, text)


def _ratio(terms: set[str], text: str) -> float:
    if not terms:
        return 0.0
    have = set(words(text))
    # a word stems to `term` only if it is the term or the term and one of the suffixes: those few are
    # looked up, not every word of the memory stemmed (~40 µs a memory)
    found = sum(any(w in have and _stem(w) == term for w in (term, *(term + s for s in _SUFFIXES))) for term in terms)
    return found / len(terms)


def relevant(memories: Sequence[Memory], query: str, min_ratio: float) -> list[Memory]:
    """The memories that contain at least `min_ratio` of the query's terms (0 keeps all): one word
    shared with a long question is a coincidence, not a memory about it."""
    if min_ratio <= 0:
        return list(memories)
    terms = {_stem(t) for t in query_terms(query)}  # once, not once per memory
    return [m for m in memories if _ratio(terms, m.text) >= min_ratio - 1e-9]


def select(memories: Sequence[Memory], max_results: int, max_context_length: int) -> list[Memory]:
    """Best-first memories cut to `max_results` and `max_context_length` characters of text in total.

    A memory that does not fit whole is skipped (a later, shorter one may still fit), never cut,
    except the first when it alone is too long: then its head is kept, so the best match is not lost.
    """
    chosen: list[Memory] = []
    used = 0
    for memory in memories:
        if len(chosen) >= max_results or used >= max_context_length:
            break
        size = len(memory.text)
        if not chosen and size > max_context_length:
            head = memory.text[: max(0, max_context_length - len(_ELLIPSIS))].rstrip() + _ELLIPSIS
            chosen.append(_with_text(memory, head[:max_context_length]))
            break
        if used + size <= max_context_length:
            chosen.append(memory)
            used += size
    return chosen


def _with_text(memory: Memory, text: str) -> Memory:
    return Memory(memory.id, text, memory.scope, memory.created_at, memory.score, memory.metadata)


def format_context(memories: Sequence[Memory], heading: str = DEFAULT_HEADING) -> str:
    """The block injected into the prompt: a heading and one bullet per memory; "" for no memories."""
    if not memories:
        return ""
    lines = [heading]
    for memory in memories:
        # Continuation lines are indented so a multi-line memory stays one bullet.
        lines.append("- " + memory.text.strip().replace("\n", "\n  "))
    return "\n".join(lines)


def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in glob.split("*")), re.DOTALL)


def model_enabled(enabled_for_models: Sequence[str], model: str) -> bool:
    """Whether `model` gets memory: an empty list means every model; `*` matches any run of characters."""
    if not enabled_for_models:
        return True
    return any(_pattern(glob).fullmatch(model) for glob in enabled_for_models)
