"""`LongStrings`: an SSE byte stream in, the same lines out, except that in a line over the limit each
long JSON string is cut at a character and escape boundary, the JSON still valid, every other field as
it was — however the bytes are chunked."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.gateway.longstrings import LongStrings

LIMIT, KEEP = 200, 16


def _fed(stream: bytes, cuts: list[int], line_limit: int = LIMIT, keep: int = KEEP) -> tuple[bytes, LongStrings]:
    strings = LongStrings(line_limit=line_limit, keep=keep)
    out, at = [], 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        out.append(strings.feed(stream[at:cut]))
        at = cut
    return b"".join(out), strings


def _lines(stream: bytes) -> list[bytes]:
    return [line for line in stream.split(b"\n") if line]


def _shortened(original: object, cut: object) -> bool:
    """`cut` is `original` with some strings cut to a prefix of at most KEEP UTF-8 bytes."""
    if isinstance(original, str) and isinstance(cut, str):
        return cut == original or (original.startswith(cut) and len(cut.encode("utf-8", "surrogatepass")) <= KEEP)
    if isinstance(original, dict) and isinstance(cut, dict):
        return original.keys() == cut.keys() and all(_shortened(original[k], cut[k]) for k in original)
    if isinstance(original, list) and isinstance(cut, list):
        return len(original) == len(cut) and all(_shortened(a, b) for a, b in zip(original, cut, strict=True))
    return original == cut


_text = st.text(st.characters(codec="utf-8"), max_size=120)  # no lone surrogates
_event = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["response.output_text.delta", "response.completed"]),
        "sequence_number": st.integers(0, 10_000),
        "text": _text,
        "response": st.fixed_dictionaries(
            {"output": st.lists(st.fixed_dictionaries({"text": _text, "n": st.integers()}), max_size=3)}
        ),
        "usage": st.fixed_dictionaries({"input_tokens": st.integers(0, 99), "output_tokens": st.integers(0, 99)}),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(_event, min_size=1, max_size=6),
    ascii_only=st.booleans(),
    line_end=st.sampled_from([b"\n", b"\r\n"]),
    cuts=st.lists(st.integers(0, 4000), max_size=12),
)
def test_every_line_parses_and_only_long_strings_of_long_lines_are_cut(
    events: list[dict[str, object]], ascii_only: bool, line_end: bytes, cuts: list[int]
) -> None:
    lines = [b"data: " + json.dumps(e, ensure_ascii=ascii_only).encode() for e in events]
    stream = b"".join(b"event: x" + line_end + line + line_end + line_end for line in lines)
    out, _ = _fed(stream, cuts)
    got = [line for line in _lines(out.replace(b"\r", b"")) if line.startswith(b"data: ")]
    assert len(got) == len(lines)
    for sent, line, event in zip(lines, got, events, strict=True):
        if len(sent) <= LIMIT:
            assert line == sent
        else:
            assert _shortened(event, json.loads(line[6:]))
    assert out.count(b"event: x") == len(events)


def test_a_huge_line_is_never_held_and_keeps_its_fields() -> None:
    text = "é" * 5_000_000  # 10 MB of two-byte characters
    line = b'data: {"type":"response.completed","response":{"output":[{"text":"' + text.encode() + b'"}],'
    line += b'"usage":{"input_tokens":3,"output_tokens":7}},"sequence_number":9}\n\n'
    strings = LongStrings(line_limit=1024, keep=1000)
    parts = [strings.feed(line[at : at + 65_537]) for at in range(0, len(line), 65_537)]
    assert max(map(len, parts)) < 70_000
    event = json.loads(b"".join(parts)[6:])
    assert event["response"]["usage"] == {"input_tokens": 3, "output_tokens": 7} and event["sequence_number"] == 9
    assert text.startswith(event["response"]["output"][0]["text"]) and strings.cut == 1


def test_escapes_and_surrogate_pairs_are_never_split() -> None:
    for filler in ("\\n", "\\u00e9", "\\ud83d\\ude00", '\\"', "\\\\"):
        for shift in range(12):
            body = "a" * shift + filler * 40
            line = ('data: {"t":"' + body + '","k":1}\n').encode()
            for step in (1, 5, 7, len(line)):
                out, strings = _fed(line, list(range(0, len(line), step)), line_limit=20, keep=KEEP)
                value = json.loads(out[6:])
                assert value["k"] == 1 and json.loads('"' + body + '"').startswith(value["t"]), (filler, shift, step)
                assert strings.cut == 1


def test_short_lines_pass_through_as_the_same_bytes() -> None:
    chunk = b'event: response.output_text.delta\ndata: {"delta":"hi"}\n\n'
    strings = LongStrings()
    assert strings.feed(chunk) is chunk
    assert strings.feed(b"data: {") == b""
    assert strings.feed(b'"a":1}\n\n') == b'data: {"a":1}\n\n'
