"""The fake local server must behave as Ollama, vLLM, LM Studio and llama.cpp do, or tests built on it
prove nothing about them: Chat Completions only, no key needed, `\\r\\n` line ends, usage only on request."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.upstream import LocalUpstream, text

QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "what is the weather in Paris"}]


@pytest.mark.parametrize("key", ["sk-anything", None])
def test_chat_completions_need_no_key(local_upstream: LocalUpstream, key: str | None) -> None:
    local_upstream.script(text("Sunny"))
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    body = {"model": "llama3.1", "messages": QUESTION}
    r = httpx.post(local_upstream.url + "/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Sunny"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/responses"), ("POST", "/v1/messages"), ("POST", "/chat/completions"), ("GET", "/v1/nope")],
)
def test_other_endpoints_are_a_404_as_such_servers_answer(
    local_upstream: LocalUpstream, method: str, path: str
) -> None:
    r = httpx.request(method, local_upstream.url + path, json={"model": "llama3.1", "input": "hi"})
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    assert local_upstream.last().path == path  # recorded, so a test can say which endpoint was tried


def test_stream_lines_end_with_crlf_and_the_sdk_reads_them(local_upstream: LocalUpstream) -> None:
    local_upstream.script(text("Sunny and warm"))
    body = {"model": "llama3.1", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", local_upstream.url + "/v1/chat/completions", json=body) as r:
        raw = r.read()
    assert raw.endswith(b"data: [DONE]\r\n\r\n") and b"\n\n" not in raw.replace(b"\r\n", b"")
    assert raw.count(b"\n") == raw.count(b"\r\n")

    local_upstream.script(text("Sunny and warm"))
    client = openai.OpenAI(base_url=local_upstream.url + "/v1", api_key="none", max_retries=0)
    chunks = list(client.chat.completions.create(model="llama3.1", messages=QUESTION, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sunny and warm"


def test_stream_usage_only_when_asked(local_upstream: LocalUpstream) -> None:
    client = openai.OpenAI(base_url=local_upstream.url + "/v1", api_key="none", max_retries=0)
    plain = list(client.chat.completions.create(model="llama3.1", messages=QUESTION, stream=True))
    assert not any(c.usage for c in plain)
    asked = client.chat.completions.create(
        model="llama3.1", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    assert [c.usage.completion_tokens for c in asked if c.usage] == [5]  # one chunk: the default text's five words
