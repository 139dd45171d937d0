"""`closing_text`: a closing Responses event written with each message part's text from the deltas,
the same JSON the event would have been with the whole text in it, whatever the text holds."""

from __future__ import annotations

import errno
import io
import json
from typing import IO, Any, cast

import pytest

from daemon.gateway.closing_text import ClosingText, closing_event

TEXT = 'é "quoted" \\ back\nslash 😀 \ud83d tab\t' * 300  # every escape, a lone surrogate among them


def _texts(spill: bool) -> ClosingText:
    texts = ClosingText(in_memory=100 if spill else 10**9)
    for at in range(0, len(TEXT), 7):  # deltas of 7 characters: pieces split characters and escapes
        texts.add("msg_1", 0, TEXT[at : at + 7])
    texts.add("msg_1", 1, "second part")
    return texts


def _events(partial: str) -> dict[str, dict[str, object]]:
    part = {"type": "output_text", "text": partial, "annotations": []}
    item = {"type": "message", "id": "msg_1", "role": "assistant", "content": [part, {**part, "text": "sec"}]}
    common = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "sequence_number": 7}
    return {
        "response.output_text.done": {"type": "response.output_text.done", **common, "text": partial},
        "response.content_part.done": {"type": "response.content_part.done", **common, "part": part},
        "response.output_item.done": {"type": "response.output_item.done", "output_index": 0, "item": item},
        "response.completed": {
            "type": "response.completed",
            "response": {"id": "r", "output": [{"type": "reasoning", "id": "rs"}, item], "usage": {"x": 1}},
        },
    }


def _whole(kind: str, data: dict[str, object]) -> dict[str, object]:
    """`data` as the client must see it: every message part's text whole."""
    whole = json.loads(json.dumps(data).replace('"partial"', json.dumps(TEXT)).replace('"sec"', '"second part"'))
    return whole if kind != "response.output_text.done" else {**whole, "text": TEXT}


@pytest.mark.parametrize("spill", [False, True])
@pytest.mark.parametrize("kind", list(_events("")))
def test_a_closing_event_carries_the_whole_text_of_every_message_part(kind: str, spill: bool) -> None:
    texts = _texts(spill)
    assert texts.spilled == spill
    data = _events("partial")[kind]
    expected = _whole(kind, data)
    out = b"".join(closing_event(kind, json.loads(json.dumps(data)), texts))
    head, _, payload = out.partition(b"\ndata: ")
    assert head == b"event: " + kind.encode() and payload.endswith(b"\n\n")
    assert json.loads(payload) == expected
    texts.close()


def test_the_text_is_read_back_in_pieces_never_whole() -> None:
    texts = ClosingText(in_memory=10)
    for _ in range(3000):
        texts.add("m", 0, "x" * 1000)  # 3 MB
    pieces = list(texts.escaped(("m", 0)))
    assert len(pieces) == 3 and b"".join(pieces) == b"x" * 3_000_000
    texts.close()


class _FillingDisk(io.RawIOBase):
    """A file on a disk with `room` bytes left: a write past it is short, then ENOSPC (as os.write)."""

    def __init__(self, room: int) -> None:
        self.data, self.room, self.at = bytearray(), room, 0

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if len(self.data) >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        take = bytes(b)[: self.room - len(self.data)]
        self.data += take
        return len(take)

    def readinto(self, b: Any) -> int:
        chunk = self.data[self.at : self.at + len(b)]
        b[: len(chunk)] = chunk
        self.at += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.at = offset if whence == 0 else len(self.data) + offset
        return self.at


@pytest.mark.parametrize("room", [0, 150, 1000, 5000])
def test_a_disk_that_fills_up_keeps_the_whole_text_in_memory(room: int, caplog: pytest.LogCaptureFixture) -> None:
    texts = ClosingText(in_memory=100, opener=lambda: cast(IO[bytes], _FillingDisk(room)))
    for at in range(0, len(TEXT), 7):
        texts.add("msg_1", 0, TEXT[at : at + 7])
    assert json.loads(b'"' + b"".join(texts.escaped(("msg_1", 0))) + b'"') == TEXT
    assert "stays in memory" in caplog.text
    texts.close()
