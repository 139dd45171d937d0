"""Streams whose SSE lines end with `\\r\\n` or `\\r` (the spec allows both; sse-starlette sends `\\r\\n`)
reach the client whole, on the fast path (the upstream's own bytes) and through LiteLLM alike.

The fast path once split events on `\\n\\n` only: every chunk of a `\\r\\n` stream was lost and the
request ended in a 502.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionStreamOptionsParam

from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config, with_local_server
from tests.support.upstream import FakeUpstream, LocalUpstream, text

ANSWER = "Fine thanks, and you there"
QUESTION = "how are you"


@pytest.fixture(scope="module")
def served(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url)
    yield from serve_gateway(tmp_path_factory.mktemp("sse-home"), config)


def _openai(served: Served, project: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=served.url + "/v1", api_key="memproxy", max_retries=0, default_headers={"x-memproxy-project": project}
    )


@pytest.mark.regression(reason="the fast path split SSE on \\n\\n only: a \\r\\n stream lost every chunk, then 502")
@pytest.mark.parametrize("include_usage", [False, True])
def test_a_crlf_chat_stream_from_a_local_server_arrives_whole(
    served: Served, local_upstream: LocalUpstream, project: str, include_usage: bool
) -> None:
    local_upstream.script(text(ANSWER))
    usage: ChatCompletionStreamOptionsParam | openai.Omit = {"include_usage": True} if include_usage else openai.omit
    stream = _openai(served, project).chat.completions.create(
        model="local-llama", messages=[{"role": "user", "content": QUESTION}], stream=True, stream_options=usage
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c for c in chunks if c.usage] if include_usage else not [c for c in chunks if c.usage]
    assert local_upstream.last().path == "/v1/chat/completions"  # the gateway's own request, not the client's
    (row,) = served.wait_final(project)
    assert row["status"] == "ok" and row["output_tokens"] > 0 and row["input_tokens"] > 0


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_an_anthropic_stream_with_other_line_ends_arrives_whole(
    served: Served, fake: FakeUpstream, project: str, line_end: bytes
) -> None:
    fake.line_end = line_end
    fake.script(text(ANSWER))
    client = anthropic.Anthropic(
        base_url=served.url, api_key="memproxy", max_retries=0, default_headers={"x-memproxy-project": project}
    )
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": QUESTION}]
    ) as stream:
        assert "".join(stream.text_stream) == ANSWER
    (row,) = served.wait_final(project)
    assert row["status"] == "ok" and row["output_tokens"] > 0
