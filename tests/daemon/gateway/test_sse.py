"""`SseSplitter` reads an event stream as the SSE spec frames it, however the bytes are cut."""

from __future__ import annotations

import pytest

from daemon.gateway.sse import SseEvent, SseSplitter, WholeEvents

STREAM = b'event: a\ndata: {"x":\ndata: 1}\n\n: keep-alive\n\ndata: [DONE]\n\n'
EXPECTED = [(b"a", b'{"x":\n1}'), (b"", None), (b"", b"[DONE]")]


def _split(stream: bytes, cuts: list[int]) -> list[SseEvent]:
    splitter, events, last = SseSplitter(), [], 0
    for cut in [*cuts, len(stream)]:
        events += splitter.feed(stream[last:cut])
        last = cut
    return events + splitter.end()


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_every_line_end_and_every_cut_gives_the_same_events_and_bytes(line_end: bytes) -> None:
    stream = STREAM.replace(b"\n", line_end)
    for cut in range(len(stream) + 1):
        events = _split(stream, [cut])
        assert [(e.name, e.data) for e in events] == EXPECTED, cut
        assert b"".join(e.raw for e in events) == stream  # every byte passed on, unchanged


def test_byte_by_byte_crlf_never_ends_an_event_early() -> None:
    stream = STREAM.replace(b"\n", b"\r\n")
    events = _split(stream, list(range(1, len(stream))))
    assert [(e.name, e.data) for e in events] == EXPECTED


def test_a_lone_cr_at_the_end_waits_for_the_next_byte_or_the_end() -> None:
    splitter = SseSplitter()
    assert splitter.feed(b"data: 1\r\r") == []  # the second \r may be half of \r\n
    assert [e.data for e in splitter.feed(b"\n")] == [b"1"]
    assert [e.data for e in splitter.feed(b"data: 2\r\r")] == []
    assert [e.raw for e in splitter.end()] == [b"data: 2\r\r"]


def test_fields_as_the_spec_reads_them() -> None:
    stream = b"\xef\xbb\xbfevent:x\ndata\ndata:  two spaces\nid: 7\nretry: 5\n\n"
    (event,) = SseSplitter().feed(stream)
    assert (event.name, event.data) == (b"x", b"\n two spaces")  # one space after the colon is dropped
    assert SseSplitter().feed(b"data: unfinished\n") == []


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_whole_events_pass_on_only_finished_events_however_the_bytes_are_cut(line_end: bytes) -> None:
    stream = STREAM.replace(b"\n", line_end)
    unfinished = b"event: b" + line_end + b'data: {"half'
    for cut in range(len(stream) + len(unfinished) + 1):
        whole, data = WholeEvents(), stream + unfinished
        out = [whole.feed(data[:cut]), whole.feed(data[cut:])]
        assert b"".join(out) == stream, cut  # every finished event, unchanged; the half one held
        for piece in filter(None, out):
            # each piece ends where an event does (a lone \r could still be the first half of \r\n)
            assert [e.raw for e in _split(piece, [])] and b"".join(e.raw for e in _split(piece, [])) == piece


def test_whole_events_pass_on_an_event_over_the_limit_as_it_comes() -> None:
    whole = WholeEvents(limit=100)
    big = b"data: " + b"x" * 1000 + b"\n\n"
    pieces = [whole.feed(big[at : at + 64]) for at in range(0, len(big), 64)]
    assert b"".join(pieces) == big and max(map(len, pieces)) <= 164
    assert whole.feed(b"data: 1\n\ndata: 2") == b"data: 1\n\n"
