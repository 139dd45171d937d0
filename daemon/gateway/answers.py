"""Reading what an upstream answered: a body no parser should take, or an error dressed as a success.

Both are the upstream's failure, a 502 with a row, never a 500 of ours or an `ok`: JSON nested deeper
than Python's parser recurses, a number longer than `int()` takes (4,300 digits), bytes that are not
UTF-8, and a 200 whose body is `{"error": ...}` (some servers and proxies answer a failure that way).
"""

from __future__ import annotations

import json
from typing import Any

from daemon.errors import UpstreamFailed

# how Python's json and int() say they would not read a body, as LiteLLM's wrappers quote them
_UNREADABLE_WORDS = (
    ("maximum recursion depth", "JSON nested too deep to read"),
    ("for integer string conversion", "a number too long to read"),
    ("can't decode byte", "bytes that are not UTF-8"),
    ("codec can't decode", "bytes that are not UTF-8"),
)


def loads(payload: bytes | str, what: str = "answer") -> Any:
    """`payload` parsed, or an UpstreamFailed that says why it cannot be."""
    try:
        return json.loads(payload)
    except RecursionError:
        raise UpstreamFailed(f"the upstream's {what} is JSON nested too deep to read") from None
    except UnicodeDecodeError:
        raise UpstreamFailed(f"the upstream's {what} holds bytes that are not UTF-8") from None
    except ValueError as exc:
        reason = _reason(str(exc)) or "not JSON"
        raise UpstreamFailed(f"the upstream's {what} is {reason}") from None


def unreadable(exc: BaseException, *, json_errors: bool = False) -> UpstreamFailed | None:
    """The 502 for an exception raised while parsing an upstream's body (however LiteLLM wrapped it),
    or None when `exc` is about something else.

    A JSONDecodeError counts only with `json_errors` (while a stream is read): before the answer,
    LiteLLM also raises it on a client's own tool-call arguments, which is the request's fault."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        reason = _reason(str(current))
        if reason is None and json_errors and isinstance(current, json.JSONDecodeError):
            reason = "not JSON"
        if reason is None and isinstance(current, RecursionError | UnicodeDecodeError):
            reason = "not readable"
        if reason is not None:
            return UpstreamFailed(f"the upstream's answer is {reason}")
        current = current.__cause__ or current.__context__
    return None


def _reason(text: str) -> str | None:
    for words, reason in _UNREADABLE_WORDS:
        if words in text:
            return reason
    return None


def reported_error(payload: Any, answer_keys: tuple[str, ...]) -> str | None:
    """The message of an `{"error": ...}` body that carries none of the `answer_keys` an answer has
    (OpenAI's `choices`, Anthropic's `content`, ...), or None for an answer."""
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    if any(payload.get(key) for key in answer_keys):
        return None
    error = payload["error"]
    message = (error.get("message") or error.get("type")) if isinstance(error, dict) else error
    return f"the upstream answered 200 with an error: {str(message or 'no message')[:2000]}"
