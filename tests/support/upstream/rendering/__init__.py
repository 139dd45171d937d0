"""Pure functions from (request, reply) to the bytes a real provider sends, per route and dialect.

`plan` resolves once per request what every renderer needs; `stream_events` and `answer` render a
generating route (streamed or not); `error_body`, `embeddings` and `models` the other answers.

- ``planning``: the Plan of one answer, the word "tokenizer", ids, JSON and SSE framing.
- ``chat``: OpenAI Chat Completions (object and stream chunks).
- ``anthropic``: Anthropic Messages (message and event stream).
- ``responses``: the OpenAI Responses API (response object and events).
- ``plain_answers``: error bodies, embeddings, the model list.
"""

from __future__ import annotations

from tests.support.upstream.rendering.anthropic import anthropic_events, anthropic_message
from tests.support.upstream.rendering.chat import chat_completion, chat_events
from tests.support.upstream.rendering.plain_answers import embeddings, error_body, models
from tests.support.upstream.rendering.planning import (
    GARBAGE,
    MODELS,
    Dialect,
    Event,
    Kind,
    Plan,
    Usage,
    dumps,
    input_words,
    new_id,
    plan,
)
from tests.support.upstream.rendering.responses import response_answer, responses_events

__all__ = [
    "GARBAGE",
    "MODELS",
    "Dialect",
    "Event",
    "Kind",
    "Plan",
    "Usage",
    "answer",
    "dumps",
    "embeddings",
    "error_body",
    "input_words",
    "models",
    "new_id",
    "plan",
    "stream_events",
]


def stream_events(route: str, p: Plan) -> list[Event]:
    """The SSE events of a streamed answer on a generating route (without the ``/v1`` prefix)."""
    render = {"/chat/completions": chat_events, "/messages": anthropic_events}.get(route, responses_events)
    return render(p)


def answer(route: str, p: Plan) -> bytes:
    """The JSON body of a non-streamed answer on a generating route (without the ``/v1`` prefix)."""
    build = {"/chat/completions": chat_completion, "/messages": anthropic_message}.get(route, response_answer)
    return dumps(build(p))
