"""The fake upstream must fool the official SDKs, or tests built on it prove nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam, ThinkingConfigParam
from openai.types.chat import ChatCompletionMessageParam

from tests.support.upstream import (
    FakeUpstream,
    corrupt_stream,
    cut_stream,
    error,
    stall,
    stall_mid_stream,
    text,
    thinking,
    tool_call,
    tool_calls,
)

REPO = Path(__file__).resolve().parent.parent
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "what is the weather in Paris"}]
ASK: list[MessageParam] = [{"role": "user", "content": "what is the weather in Paris"}]  # 6 words: 6 tokens


@pytest.fixture
def oai(upstream: FakeUpstream) -> openai.OpenAI:
    # No retries: a retried request would silently consume the next scripted reply.
    return openai.OpenAI(base_url=upstream.url + "/v1", api_key="sk-openai", max_retries=0)


@pytest.fixture
def claude(upstream: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream.url, api_key="sk-ant", max_retries=0)


def _text(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# --- OpenAI chat completions ---------------------------------------------------------------------


def test_openai_chat_answers_and_records_the_request(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    upstream.script(text("Bonjour tout le monde", usage={"input_tokens": 10, "cache_read_tokens": 4}))
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)

    assert reply.choices[0].message.content == "Bonjour tout le monde"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (14, 4, 18)
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 4
    seen = upstream.last("/v1/chat/completions")
    assert seen.method == "POST"
    assert seen.headers["authorization"] == "Bearer sk-openai"
    assert seen.body["messages"] == QUESTION
    assert json.loads(seen.raw) == seen.body


def test_openai_default_usage_counts_words(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="m", messages=QUESTION)
    assert reply.choices[0].message.content == "Hello from the fake upstream"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 5)


def test_openai_stream_sends_a_chunk_per_word_then_usage(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=QUESTION,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["Hello", " from", " the", " fake", " upstream"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5


def test_openai_tool_calls_non_stream_and_stream(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    upstream.script(
        tool_call("get_weather", {"city": "Paris"}, id="call_1"),
        tool_calls([("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})], text="Checking."),
    )
    reply = oai.chat.completions.create(model="m", messages=QUESTION)
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.id == "call_1"
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})

    stream = oai.chat.completions.create(model="m", messages=QUESTION, stream=True)
    content = ""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    finish = None
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for tc in delta.tool_calls or []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            args[tc.index] = args.get(tc.index, "") + ((tc.function and tc.function.arguments) or "")
        finish = chunk.choices[0].finish_reason or finish
    assert content == "Checking."
    assert names == {0: "get_weather", 1: "get_time"}
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "Paris"}, 1: {"tz": "CET"}}
    assert finish == "tool_calls"


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_errors_map_to_sdk_exceptions(
    upstream: FakeUpstream, oai: openai.OpenAI, status: int, exc: type[openai.APIStatusError]
) -> None:
    upstream.script(error(status, "nope"))
    with pytest.raises(exc) as info:
        oai.chat.completions.create(model="m", messages=QUESTION)
    assert info.value.status_code == status
    # The SDK keeps the inner "error" object as the body and copies its fields onto the exception.
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"] == "nope"
    assert info.value.type == ("server_error" if status >= 500 else info.value.body["type"])
    if status == 429:
        assert info.value.response.headers["retry-after"] == "1"


def test_stall_trips_the_client_timeout(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    upstream.script(stall(5))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.15).chat.completions.create(model="m", messages=QUESTION)
    assert time.monotonic() - started < 2


def test_cut_stream_drops_the_connection_without_done(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    upstream.script(cut_stream(2))
    stream = oai.chat.completions.create(model="m", messages=QUESTION, stream=True)
    got = []
    # What the SDK user sees: its own connection error, after the chunks sent and before any finish.
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
            assert chunk.choices[0].finish_reason is None
    assert got == ["", "Hello", " from"]


# --- Anthropic messages --------------------------------------------------------------------------


def test_anthropic_message_with_cache_usage(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    usage = {"input_tokens": 7, "output_tokens": 3, "cache_read_tokens": 100, "cache_write_tokens": 20}
    upstream.script(text("Il fait beau", usage=usage))
    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=ASK)

    assert message.id.startswith("msg_")
    assert message.model == "claude-sonnet-4-5"
    assert [b.type for b in message.content] == ["text"]
    assert _text(message) == "Il fait beau"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 20
    # anthropic 2.x sends the API key as a Bearer token; older releases used x-api-key.
    headers = upstream.last("/v1/messages").headers
    assert headers.get("x-api-key") == "sk-ant" or headers.get("authorization") == "Bearer sk-ant"
    assert "anthropic-version" in headers


def test_anthropic_stream_helper_builds_the_final_message(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=ASK) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert pieces == ["Hello", " from", " the", " fake", " upstream"]
    assert _text(final) == "Hello from the fake upstream"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (6, 5)


def test_anthropic_tool_use_with_text(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    reply = tool_calls([("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})], text="Let me look.")
    upstream.script(reply, reply)
    message = claude.messages.create(model="c", max_tokens=100, messages=ASK)
    with claude.messages.stream(model="c", max_tokens=100, messages=ASK) as stream:
        streamed = stream.get_final_message()

    for m in (message, streamed):
        assert m.stop_reason == "tool_use"
        assert [b.type for b in m.content] == ["text", "tool_use", "tool_use"]
        uses = [b for b in m.content if b.type == "tool_use"]
        assert [(u.name, u.input) for u in uses] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"tz": "CET"}),
        ]
        assert all(u.id.startswith("toolu_") for u in uses)


def test_anthropic_thinking_blocks_carry_a_signature(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    upstream.script(thinking("Paris is in France.", then="Sunny."), thinking("Hmm.", then="Rainy.", signature="sig"))
    budget: ThinkingConfigParam = {"type": "enabled", "budget_tokens": 1024}
    message = claude.messages.create(model="c", max_tokens=2048, thinking=budget, messages=ASK)
    with claude.messages.stream(model="c", max_tokens=2048, thinking=budget, messages=ASK) as stream:
        streamed = stream.get_final_message()

    assert [b.type for b in message.content] == ["thinking", "text"]
    assert [(b.thinking, bool(b.signature)) for b in message.content if b.type == "thinking"] == [
        ("Paris is in France.", True)
    ]
    assert _text(message) == "Sunny."
    assert [b.type for b in streamed.content] == ["thinking", "text"]
    assert [(b.thinking, b.signature) for b in streamed.content if b.type == "thinking"] == [("Hmm.", "sig")]
    assert _text(streamed) == "Rainy."


@pytest.mark.parametrize(
    ("status", "exc", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
    ],
)
def test_anthropic_errors_map_to_sdk_exceptions(
    upstream: FakeUpstream,
    claude: anthropic.Anthropic,
    status: int,
    exc: type[anthropic.APIStatusError],
    kind: str,
) -> None:
    upstream.script(error(status, "slow down"))
    with pytest.raises(exc) as info:
        claude.messages.create(model="c", max_tokens=10, messages=ASK)
    assert info.value.status_code == status
    assert info.value.body == {"type": "error", "error": {"type": kind, "message": "slow down"}}


def test_anthropic_corrupt_stream_fails_to_parse(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    upstream.script(corrupt_stream(1))
    with (
        pytest.raises(json.JSONDecodeError),
        claude.messages.stream(model="c", max_tokens=10, messages=ASK) as stream,
    ):
        stream.get_final_message()


def test_anthropic_count_tokens(upstream: FakeUpstream, claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model="c", messages=ASK, system="be brief")
    assert counted.input_tokens == 8
    assert upstream.pending == 0


# --- other OpenAI routes -------------------------------------------------------------------------


def test_responses_api_non_stream_and_stream(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    upstream.script(text("Short answer"), text("Streamed answer here"))
    response = oai.responses.create(model="gpt-4o-mini", input="say something")
    assert response.output_text == "Short answer"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 2)

    events = list(oai.responses.create(model="gpt-4o-mini", input="say something", stream=True))
    assert events[0].type == "response.created"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["Streamed", " answer", " here"]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "Streamed answer here"
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == 3


def test_embeddings_are_deterministic(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise; both encodings must decode to the same floats.
    first = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    again = oai.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="float")
    assert len(first.data) == 2
    assert len(first.data[0].embedding) == 8
    assert first.data[0].embedding != first.data[1].embedding
    assert again.data[0].embedding == pytest.approx(first.data[0].embedding, abs=1e-6)


def test_models_and_unknown_paths(upstream: FakeUpstream, oai: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in [m.id for m in oai.models.list()]
    missing = httpx.post(upstream.url + "/v1/nothing-here", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"


def test_require_key_answers_401_in_each_dialect(upstream: FakeUpstream) -> None:
    upstream.require_key = "sk-right"
    wrong_openai = openai.OpenAI(base_url=upstream.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong_openai.chat.completions.create(model="m", messages=QUESTION)
    wrong_claude = anthropic.Anthropic(base_url=upstream.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        wrong_claude.messages.create(model="c", max_tokens=10, messages=ASK)
    assert info.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }

    right = anthropic.Anthropic(base_url=upstream.url, api_key="sk-right", max_retries=0)
    assert right.messages.create(model="c", max_tokens=10, messages=ASK).stop_reason == "end_turn"


# --- streaming knobs -----------------------------------------------------------------------------


def _arrivals(url: str, body: dict[str, object]) -> list[tuple[float, str]]:
    """Each SSE data line with the time it arrived."""
    start, out = time.monotonic(), []
    with httpx.stream("POST", url, json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                out.append((time.monotonic() - start, line[6:]))
    return out


def test_chunk_count_and_interval_knobs(upstream: FakeUpstream) -> None:
    upstream.chunks, upstream.chunk_interval_ms = 7, 20
    lines = _arrivals(upstream.url + "/v1/chat/completions", {"model": "m", "messages": QUESTION, "stream": True})

    content = [(t, json.loads(d)) for t, d in lines if d != "[DONE]"]
    content = [(t, c) for t, c in content if c["choices"][0]["delta"].get("content")]
    assert len(content) == 7  # five words, repeated to fill seven chunks
    # six waits of 20 ms before the last chunk: a lower bound a loaded machine can only exceed (the
    # gap between two arrivals is no such bound: a client that reads late gets two chunks at once)
    assert content[-1][0] >= 6 * 0.020
    assert lines[-1][1] == "[DONE]"

    upstream.chunks, upstream.chunk_interval_ms = 2, 0
    lines = _arrivals(upstream.url + "/v1/chat/completions", {"model": "m", "messages": QUESTION, "stream": True})
    pieces = [json.loads(d)["choices"][0]["delta"].get("content") for _, d in lines[1:-2]]
    assert pieces == ["Hello from", " the fake upstream"]  # five words grouped into two chunks


def test_stall_mid_stream_pauses_then_finishes(upstream: FakeUpstream) -> None:
    upstream.script(stall_mid_stream(2, 0.15))
    lines = _arrivals(upstream.url + "/v1/messages", {"model": "c", "messages": QUESTION, "stream": True})
    deltas = [(t, json.loads(d)) for t, d in lines if '"content_block_delta"' in d]
    assert deltas[2][0] >= 0.15  # the stall before the third delta: a bound load can only exceed
    assert json.loads(lines[-1][1]) == {"type": "message_stop"}


@pytest.mark.parametrize("module", ["tests.support.upstream", "tests.fake_upstream"])
def test_runs_in_the_foreground_from_the_command_line(module: str) -> None:
    cmd = [sys.executable, "-m", module, "--port", "0", "--chunks", "3"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        lines = _arrivals(url + "/chat/completions", {"model": "m", "messages": QUESTION, "stream": True})
        assert len(lines) == 1 + 3 + 1 + 1  # role chunk, three content chunks, finish chunk, [DONE]
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in stderr
