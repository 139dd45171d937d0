"""Over-long JSON strings cut out of an SSE byte stream as it passes, so no huge event is held whole.

A Responses API stream repeats the whole answer in each of its four closing events
(`response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
`response.completed`): after a 64 MiB answer, four `data:` lines of 64 MiB each. Whatever splits the
stream into events and parses them holds each line whole, and then the parsed copy.

`LongStrings.feed` returns what to parse instead of the bytes it is given: every line as it came, but
in a line longer than `line_limit` bytes each JSON string is cut to its first `keep` bytes (at a
character and escape boundary), the rest of it dropped as it arrives. The JSON stays valid and every
field stays in place (usage, model, ids, status); only the long texts are shorter. A line under the
limit is held until it ends, as any SSE reader holds it; a longer one is scanned from its start.

It is only ever a reader's copy: the client gets the upstream's bytes, or events whose long texts
nobody reads (`daemon.gateway.streams.bound_responses_source`).
"""

from __future__ import annotations

import re

from daemon.gateway.sse import SseEvent, SseSplitter

LINE_LIMIT = 1024 * 1024  # a line this long has its strings cut
KEEP = 64 * 1024  # bytes kept of each string in such a line

# whole tokens of a string's contents: a run of plain bytes, a surrogate pair, any other escape
_CONTENT = re.compile(
    rb'(?:[^"\\\r\n]++'
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u(?![dD][89abAB])[0-9a-fA-F]{4}"
    rb"|\\[^u\r\n])*+"
)
_OUTSIDE = re.compile(rb'["\r\n]')  # outside a string: where one opens, or where the line ends
_LINE_END = re.compile(rb"[\r\n]")
_LONGEST_ESCAPE = 12  # a surrogate pair


class LongStrings:
    """Feed an SSE byte stream in; get it back with the strings of over-long lines cut (see the module)."""

    __slots__ = ("_dropping", "_held", "_in_string", "_room", "_tail", "_trimming", "cut", "keep", "line_limit")

    def __init__(self, line_limit: int = LINE_LIMIT, keep: int = KEEP) -> None:
        self.line_limit, self.keep = line_limit, keep
        self._held = bytearray()  # the unfinished line, while it is under the limit
        self._trimming = False  # inside an over-long line
        self._in_string = False
        self._room = 0  # bytes still to keep of the current string
        self._dropping = False  # the current string is being cut
        self._tail = b""  # an escape split across chunks, until the next one completes it
        self.cut = 0  # strings cut so far

    def feed(self, chunk: bytes) -> bytes:
        """What of the stream `chunk` completes, to be parsed in place of `chunk`."""
        if self._trimming:
            return self._trim(self._tail + chunk)
        if len(self._held) + len(chunk) > self.line_limit:
            data = bytes(self._held) + chunk  # a line here may be over the limit: line by line
            self._held = bytearray()
            return self._lines(data)
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._held += chunk
            return b""
        if not self._held and end == len(chunk) - 1:
            return chunk  # the common case: whole lines
        out = bytes(self._held) + chunk[: end + 1]
        self._held = bytearray(chunk[end + 1 :])
        return out

    def end(self) -> bytes:
        """At the end of the stream: an unfinished last line, as it came (a reader decides what it is)."""
        held, self._held, self._tail = bytes(self._held) + self._tail, bytearray(), b""
        return held

    def _lines(self, data: bytes) -> bytes:
        out: list[bytes] = []
        at = 0
        while at < len(data):
            found = _LINE_END.search(data, at)
            start = found.start() if found is not None else len(data)
            if start - at > self.line_limit:
                self._trimming, self._in_string = True, False
                out.append(self._trim(data[at:]))
                break
            if found is None:
                self._held = bytearray(data[at:])
                break
            out.append(data[at : found.end()])
            at = found.end()
        return b"".join(out)

    def _trim(self, buf: bytes) -> bytes:
        """Scan `buf` inside an over-long line: strings cut, the line's end handed back to `feed`."""
        out: list[bytes] = []
        at, size = 0, len(buf)
        self._tail = b""
        while at < size:
            if not self._in_string:
                found = _OUTSIDE.search(buf, at)
                if found is None:
                    out.append(buf[at:])
                    break
                if found.group() != b'"':  # the line ends: back to whole lines
                    out.append(buf[at : found.start()])
                    self._trimming = False
                    out.append(self.feed(buf[found.start() :]))
                    break
                out.append(buf[at : found.end()])
                self._in_string, self._room, self._dropping, at = True, self.keep, False, found.end()
                continue
            end = _tokens_end(buf, at, len(buf))
            if end == size:
                end = _whole_chars(buf, at, size)
            out.append(self._kept(buf, at, end))
            if end == size:
                break
            byte = buf[end : end + 1]
            if end > size - 4 and byte[0] & 0x80:
                self._tail = buf[end:]  # a character the next chunk completes
                break
            if byte == b'"':
                out.append(byte)
                self._in_string, at = False, end + 1
            elif byte == b"\\" and size - end < _LONGEST_ESCAPE:
                self._tail = buf[end:]  # an escape the next chunk may complete
                break
            elif byte == b"\\":  # not a JSON escape: taken as one byte of text
                out.append(self._kept(buf, end, end + 1))
                at = end + 1
            else:  # a line end inside a string (not JSON): the line ends here all the same
                self._in_string, at = False, end
        return b"".join(out)

    def _kept(self, buf: bytes, start: int, end: int) -> bytes:
        """What of the string's contents `buf[start:end]` (whole tokens and characters) is kept."""
        if end - start <= self._room:
            self._room -= end - start
            return buf[start:end]
        cut = start
        if self._room:
            cut = _tokens_end(buf, start, start + self._room)  # no escape split
            while cut > start and buf[cut] & 0xC0 == 0x80:
                cut -= 1  # no UTF-8 character split
            self._room = 0
        if not self._dropping:
            self._dropping = True
            self.cut += 1
        return buf[start:cut]


def _tokens_end(buf: bytes, start: int, end: int) -> int:
    """Where the whole tokens of string contents from `start` end, at `end` at the latest."""
    found = _CONTENT.match(buf, start, end)
    return found.end() if found is not None else start


def _whole_chars(buf: bytes, start: int, end: int) -> int:
    """`end`, or where a UTF-8 character that `buf[:end]` leaves unfinished starts."""
    for back in range(1, min(4, end - start) + 1):
        byte = buf[end - back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead
        if byte & 0x80 == 0:
            return end
        size = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return end - back if back < size else end
    return end


class CutEvents:
    """The events of an SSE byte stream, read from a copy whose over-long lines have their strings cut."""

    __slots__ = ("splitter", "strings")

    def __init__(self) -> None:
        self.strings = LongStrings()
        self.splitter = SseSplitter()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        return self.splitter.feed(self.strings.feed(chunk))

    def end(self) -> list[SseEvent]:
        """At the end of the stream: the events its last bytes complete."""
        return self.splitter.feed(self.strings.end()) + self.splitter.end()
