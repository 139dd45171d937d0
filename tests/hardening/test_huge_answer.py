"""One huge streamed answer (issue 16, item 8): the daemon relays it without keeping it, and stores at
most `logging.max_stored_bytes` of it.

The fake upstream streams a 64 MiB answer (4,096 chunks of 16 KiB) through the real daemon, on the
fast path and through LiteLLM; the daemon's peak RSS (`VmHWM`) is read from /proc before and after.
A Responses stream repeats the whole answer in each of its four closing events: on the fast path
(responses<-gpt-4o) they are parsed from a copy with the long strings cut (`gateway.longstrings`), and
under LiteLLM's Anthropic adapter (messages<-gpt-4o) they reach LiteLLM's decoder cut
(`gateway.responses_feed`), where each event is checked instead. A Responses stream LiteLLM builds
from a chat stream (responses<-claude) has its text kept by memproxy past 1 MiB and written into the
closing events (`gateway.closing_text`), LiteLLM's copies of it forgotten.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import db_rows
from tests.support.hardening import config_text, figure
from tests.support.upstream.observing import ObservingUpstream
from tests.support.upstream.replies import malformed_event, text

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the daemon's RSS from /proc"),
]

CHUNKS = 4096
CHUNK_CHARS = 16 * 1024
ANSWER_BYTES = CHUNKS * CHUNK_CHARS  # 64 MiB
STORED_CAP = 1024 * 1024  # the default logging.max_stored_bytes
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("huge-answer-home"), config_text(upstream.url, timeout=30))
    try:
        yield d
    finally:
        d.down()


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _pid(daemon: Daemon) -> int:
    return int((daemon.home / "memproxy.pid").read_text().strip())


@pytest.mark.regression(reason="BUG: a 200 MiB streamed answer took the daemon to 1.3 GB RSS and was stored whole")
@pytest.mark.parametrize(
    ("route", "model"),
    [
        ("/v1/chat/completions", "gpt-4o"),  # the fast path: the provider's bytes relayed
        ("/v1/chat/completions", "claude-sonnet-4-5"),  # through LiteLLM's stream wrapper
        ("/v1/messages", "claude-sonnet-4-5"),  # the fast path, Anthropic's events
        # LiteLLM's Anthropic adapter over its Responses iterator (the provider's Responses events)
        ("/v1/messages", "gpt-4o"),
        ("/v1/responses", "gpt-4o"),  # the fast path, the Responses API's events
        ("/v1/responses", "claude-sonnet-4-5"),  # LiteLLM's chat->Responses bridge over Anthropic's events
    ],
)
def test_a_huge_streamed_answer_is_relayed_without_keeping_it(
    daemon: Daemon, upstream: ObservingUpstream, route: str, model: str
) -> None:
    body: dict[str, object] = {"model": model, "stream": True}
    if route == "/v1/responses":
        body["input"] = "write a lot"
    else:
        body.update(messages=[{"role": "user", "content": "write a lot"}], max_tokens=100)
    # a short answer first: the modules and pools this route needs are loaded before measuring
    assert httpx.post(f"{daemon.url}{route}", json=body, timeout=60).status_code == 200
    seen = len(daemon.wait_rows(lambda r: r["model"] == model and r["endpoint"] == route))
    upstream.chunks = CHUNKS
    # one 16 KiB word a chunk, each a different one (LiteLLM refuses a stream repeating one chunk)
    upstream.script(text(" ".join(f"{i:05d}" + "x" * (CHUNK_CHARS - 6) for i in range(CHUNKS))))
    pid = _pid(daemon)
    before = _kib(pid, "VmRSS")
    received, samples = 0, list[int]()
    with httpx.stream("POST", f"{daemon.url}{route}", json=body, timeout=120) as answer:
        assert answer.status_code == 200, answer.read()
        for chunk in answer.iter_raw():
            received += len(chunk)
            if len(samples) < received // (4 * MiB):
                samples.append(round((_kib(pid, "VmRSS") - before) / MiB))
    print("RSS growth every 4 MiB:", samples)
    peak = _kib(pid, "VmHWM")
    rows = daemon.wait_rows(lambda r: r["model"] == model and r["endpoint"] == route, count=seen + 1, timeout=60)
    newest = max(rows, key=lambda r: r["started_at"])
    (row,) = db_rows(daemon.home, "id = ?", (newest["id"],))
    stored = len((row["response_text"] or "").encode())
    figure(
        "test_a_huge_streamed_answer_is_relayed_without_keeping_it",
        route=route,
        model=model,
        received_mib=received / MiB,
        rss_before_mib=before / MiB,
        peak_mib=peak / MiB,
        growth_mib=(peak - before) / MiB,
        stored_bytes=stored,
        status=row["status"],
    )
    assert row["status"] == "ok", (row["status"], row["error"])
    assert received > ANSWER_BYTES
    assert stored <= STORED_CAP
    assert "logging.max_stored_bytes" in row["response_text"]
    # the daemon held at most a fraction of the answer (its peak since start counts, so this is generous)
    assert peak - before < ANSWER_BYTES // 2


@pytest.mark.parametrize("route", ["/v1/messages", "/v1/responses"])
def test_an_event_lost_past_the_first_mib_of_a_responses_stream_is_still_an_error(
    daemon: Daemon, upstream: ObservingUpstream, route: str
) -> None:
    """The closing events' texts are cut before anything parses them (`longstrings`), so the text check
    cannot compare a huge answer whole: each event is checked where the provider's bytes pass instead."""
    body: dict[str, object] = {"model": "gpt-4o", "stream": True}
    if route == "/v1/responses":
        body["input"] = "write a lot"
    else:
        body.update(messages=[{"role": "user", "content": "write a lot"}], max_tokens=100)
    upstream.chunks = 256
    words = " ".join(f"{i:05d}" + "y" * (8 * 1024 - 6) for i in range(256))  # 2 MiB, one word a chunk
    upstream.script(malformed_event(200, text(words)))  # the broken event after 1.6 MiB
    seen = sum(r["endpoint"] == route and r["status"] == "error" for r in daemon.rows())  # no wait: none yet is 0
    answer = httpx.post(f"{daemon.url}{route}", json=body, timeout=60)
    assert answer.status_code == 200, (answer.text[:500], daemon.log_tail())
    tail = answer.content[-2000:].decode(errors="replace")
    assert "message_stop" not in tail and "response.completed" not in tail, tail
    assert "error" in tail, tail
    rows = daemon.wait_rows(lambda r: r["endpoint"] == route and r["status"] == "error", count=seen + 1, timeout=60)
    assert max(rows, key=lambda r: r["started_at"])["http_status"] == 502


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4o"])
def test_a_long_responses_answer_reaches_the_openai_sdk_whole_in_every_closing_event(
    daemon: Daemon, upstream: ObservingUpstream, model: str
) -> None:
    """Past 1 MiB memproxy keeps a translated answer's text itself and writes it into the closing
    events (`gateway.closing_text`): Codex keeps the finished message from `output_item.done`."""
    upstream.chunks = 400
    answer = " ".join(f'{i:04d} é "q" \\ 😀\n' + "z" * 8000 for i in range(400))  # 3.1 MiB
    upstream.script(text(answer))
    client = openai.OpenAI(base_url=f"{daemon.url}/v1", api_key="sk-test", max_retries=0)
    deltas: list[str] = []
    done: dict[str, dict[str, Any]] = {}
    with client.responses.stream(model=model, input="write a lot") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type in ("response.output_text.done", "response.content_part.done", "response.output_item.done"):
                done[event.type] = event.model_dump()
        final = stream.get_final_response()
    assert "".join(deltas) == answer
    assert done["response.output_text.done"]["text"] == answer
    assert done["response.content_part.done"]["part"]["text"] == answer
    assert done["response.output_item.done"]["item"]["content"][0]["text"] == answer
    assert final.output_text == answer
