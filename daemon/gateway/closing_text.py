"""A translated Responses stream's closing events, written with their texts from the deltas.

When LiteLLM serves a Responses request from a chat stream (a Claude model, a local server that
speaks only Chat Completions), its bridge keeps a snapshot of every chunk to build the final response
at the end, then sends the whole text four times (`response.output_text.done`,
`response.content_part.done`, `response.output_item.done`, `response.completed`): a 64 MiB answer
took the daemon 533 MiB. Clients read those events (Codex keeps the finished message from
`output_item.done`), so their texts must be whole.

`ClosingText` keeps each message part's text as its deltas pass, in memory up to 1 MiB and in an
unlinked temporary file past that (0600; kept in memory if the disk refuses it, logged once), so the
relay can let LiteLLM forget the chunks' texts (`streams.forget_bridge_text`). `closing_event` writes a
closing event with each part's text from here, in 1 MiB pieces read as they are sent, never whole.
"""

from __future__ import annotations

import codecs
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from daemon.gateway.encode import dumps

log = logging.getLogger("memproxy.gateway")

IN_MEMORY = 1024 * 1024  # bytes of one part's text kept in memory before it goes to a file
PIECE = 1024 * 1024  # bytes read back at a time
Key = tuple[str, int]  # (item_id, content_index)


class _Part:
    __slots__ = ("file", "pieces", "size", "written")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.written = 0  # bytes the file holds


def _temporary_file() -> IO[bytes]:
    # unbuffered: a write that fails (a full disk) has written exactly what it says, nothing in a buffer
    return tempfile.TemporaryFile(prefix="memproxy-answer-", buffering=0)


class ClosingText:
    """The text each message part of a Responses stream carried in its deltas, for its closing events."""

    __slots__ = ("_failed", "_open", "in_memory", "parts", "spilled")

    def __init__(self, in_memory: int = IN_MEMORY, opener: Callable[[], IO[bytes]] = _temporary_file) -> None:
        self.in_memory = in_memory
        self._open = opener
        self.parts: dict[Key, _Part] = {}
        self.spilled = False  # a part went past `in_memory`: LiteLLM may be told to forget its text
        self._failed = False  # the disk refused once: every text stays in memory from then on

    def add(self, item_id: str, index: int, text: str) -> None:
        part = self.parts.get((item_id, index))
        if part is None:
            part = self.parts[(item_id, index)] = _Part()
        if part.file is not None:
            whole = part.written  # the file's texts end here: a failed write may leave part of `text`
            try:
                _write(part, text)
            except OSError as exc:
                self._back_to_memory(part, exc, whole)
                part.pieces.append(text)
            return
        part.pieces.append(text)
        part.size += len(text)
        if part.size > self.in_memory and not self._failed:
            self._spill(part)

    def _spill(self, part: _Part) -> None:
        try:
            part.file = self._open()
            for piece in part.pieces:
                _write(part, piece)
        except OSError as exc:
            self._back_to_memory(part, exc, 0)  # the pieces are all still here
            return
        part.pieces = []
        self.spilled = True

    def _back_to_memory(self, part: _Part, exc: OSError, whole: int) -> None:
        """The disk refused (full, say): the file's first `whole` bytes come back to memory, and the
        part stays there."""
        if not self._failed:
            log.warning("a long answer's text stays in memory: cannot write a temporary file (%s)", exc)
        self._failed = True
        file, part.file = part.file, None
        if file is None:
            return
        with file:
            file.seek(0)
            kept = bytearray()
            while len(kept) < whole and (chunk := file.read(whole - len(kept))):
                kept += chunk
            if whole:
                part.pieces = [kept.decode("utf-8", "surrogatepass")]
        part.written = 0

    def escaped(self, key: Key) -> Iterator[bytes]:
        """The part's text as the inside of a JSON string, in pieces of about 1 MiB."""
        part = self.parts[key]
        if part.file is None:
            yield _escape("".join(part.pieces))
            return
        part.file.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        while chunk := part.file.read(PIECE):
            yield _escape(decoder.decode(chunk))
        part.file.seek(0, 2)  # later deltas (there should be none) append

    def close(self) -> None:
        for part in self.parts.values():
            if part.file is not None:
                part.file.close()
        self.parts.clear()


def _write(part: _Part, text: str) -> None:
    assert part.file is not None
    data = memoryview(text.encode("utf-8", "surrogatepass"))
    while data:
        done = part.file.write(data) or 0
        part.written += done
        data = data[done:]


def _escape(text: str) -> bytes:
    try:
        return orjson.dumps(text)[1:-1]
    except TypeError:  # a lone surrogate: json writes it as an escape
        return json.dumps(text)[1:-1].encode()


CLOSING = frozenset(
    {
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
    }
)


def closing_event(kind: str, data: dict[str, Any], texts: ClosingText) -> Iterator[bytes]:
    """The SSE bytes of a closing event `data` (a dict of its JSON, changed here) with every message
    part's text written from `texts`."""
    slots: list[tuple[dict[str, Any], str, Key]] = []  # (holder, field, key) of each text to write
    if kind == "response.output_text.done":
        slots.append((data, "text", (str(data.get("item_id")), _int(data.get("content_index")))))
    elif kind == "response.content_part.done" and isinstance(data.get("part"), dict):
        slots.append((data["part"], "text", (str(data.get("item_id")), _int(data.get("content_index")))))
    elif kind == "response.output_item.done":
        slots.extend(_message_slots(data.get("item")))
    else:
        for item in (data.get("response") or {}).get("output") or []:
            slots.extend(_message_slots(item))
    slots = [(holder, field, key) for holder, field, key in slots if key in texts.parts and field in holder]
    marks: list[bytes] = []
    for n, (holder, field, _) in enumerate(slots):
        mark = f"\x00memproxy-text-{n}\x00"
        holder[field] = mark
        marks.append(dumps(mark))
    rest = b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"
    for placeholder, (_, _, key) in zip(marks, slots, strict=True):
        head, _, rest = rest.partition(placeholder)
        yield head + b'"'
        yield from texts.escaped(key)
        rest = b'"' + rest
    yield rest


def _message_slots(item: Any) -> list[tuple[dict[str, Any], str, Key]]:
    if not isinstance(item, dict) or item.get("type") != "message":
        return []
    parts = item.get("content") or []
    return [(part, "text", (str(item.get("id")), k)) for k, part in enumerate(parts) if isinstance(part, dict)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
