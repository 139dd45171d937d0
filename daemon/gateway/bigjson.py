"""Parsing a large request body without holding the event loop (issue 16, item 9).

`json.loads` of a 24.7 MiB prompt, or of 100,000 tools, is one C call that holds the GIL for its
whole length (0.1–1.4 s here): in a worker thread it stalls the event loop just the same. `loads`
parses in steps that each hold the GIL briefly, so a worker thread running it hands the GIL back to
the loop every switch interval (5 ms):

- a value that fits in `SMALL` characters is one `raw_decode` of that slice (C speed);
- a longer array or object is walked here, element by element;
- a longer string is read `STEP` characters at a time (a regex for the run without escapes).

While a big body is parsed the cyclic garbage collector is paused: building 100,000 tools (800,000
objects) set off its full passes, each holding the GIL over every object of the daemon (the parse took
4.9 s instead of 0.65 s). A JSON value holds no cycles; refcounting frees it as ever. What was made
meanwhile then goes to the collector's oldest generation, so no young pass walks it all at once
(the loop stalled 0.8–1.3 s on that pass, 0.045 s without it).

The result is what `json.loads` gives (the same values, NaN and Infinity refused); on anything it
does not take it raises `json.JSONDecodeError` with the position (line and column) of the fault,
`Constant` for NaN or Infinity, `LoneSurrogate` for a lone UTF-16 surrogate escape,
`UnicodeDecodeError` for bytes that are not UTF-8 and `RecursionError` for nesting too deep; a body
with a byte order mark is a plain `ValueError` (json.loads takes it: the caller parses it so).
"""

from __future__ import annotations

import codecs
import gc
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SMALL = 4096
STEP = 256 * 1024

_WS = re.compile(r"[ \t\n\r]*")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class LoneSurrogate(ValueError):
    pass


class Constant(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse(name: str) -> Any:
    raise Constant(name)


_DECODER = json.JSONDecoder(parse_constant=_refuse)


def decode(raw: bytes) -> str:
    """`raw` as UTF-8 text, `STEP` bytes per call (UnicodeDecodeError as `bytes.decode` raises it)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts = [decoder.decode(raw[i : i + STEP]) for i in range(0, len(raw), STEP)]
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def loads(raw: bytes) -> Any:
    with collector_paused():
        text = decode(raw)
        if text.startswith("\ufeff"):
            raise ValueError("a byte order mark")  # json.loads says so in its own words
        parser = _Parser(text)
        value, end = parser.value(parser.ws(0))
        end = parser.ws(end)
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
        return value


_pause = threading.Lock()
_pausing = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while any caller is inside (parses may overlap)."""
    global _pausing, _was_enabled
    with _pause:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _pause:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                # everything made meanwhile goes to the oldest generation (two list splices): the
                # first young pass would otherwise walk all 800,000 objects at once, on whichever
                # thread allocates next. A full pass finds them later, most long freed by then.
                gc.freeze()
                gc.unfreeze()
                gc.enable()


class _Parser:
    __slots__ = ("n", "s")

    def __init__(self, s: str) -> None:
        self.s, self.n = s, len(s)

    def ws(self, i: int) -> int:
        match = _WS.match(self.s, i)
        return match.end() if match else i

    def value(self, i: int) -> tuple[Any, int]:
        s = self.s
        if i >= self.n:
            raise json.JSONDecodeError("Expecting value", s, i)
        c = s[i]
        if c not in '{["':
            return _DECODER.raw_decode(s, i)  # a number or a literal: no longer than itself
        window = s[i : i + SMALL]
        try:
            value, end = _DECODER.raw_decode(window)
        except (ValueError, RecursionError):
            pass  # longer than the window (or wrong: walked below, which says so)
        else:  # ended by its closing quote or bracket: whole
            if _SURROGATE.search(window, 0, end):
                _check_surrogates(value)
            return value, i + end
        if c == "{":
            return self._object(i + 1)
        if c == "[":
            return self._array(i + 1)
        return self._string(i + 1)

    def _object(self, i: int) -> tuple[dict[str, Any], int]:
        s, out = self.s, dict[str, Any]()
        i = self.ws(i)
        if i < self.n and s[i] == "}":
            return out, i + 1
        while True:
            if i >= self.n or s[i] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, i)
            key, i = self._string(i + 1)
            i = self.ws(i)
            if i >= self.n or s[i] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", s, i)
            out[key], i = self.value(self.ws(i + 1))
            ended, i = self._after_item(i, "}")
            if ended:
                return out, i

    def _array(self, i: int) -> tuple[list[Any], int]:
        s, out = self.s, list[Any]()
        i = self.ws(i)
        if i < self.n and s[i] == "]":
            return out, i + 1
        while True:
            item, i = self.value(i)
            out.append(item)
            ended, i = self._after_item(i, "]")
            if ended:
                return out, i

    def _after_item(self, i: int, close: str) -> tuple[bool, int]:
        """After an item of a container: (True, past `close`) at its end, (False, the next item)."""
        i = self.ws(i)
        if i < self.n and self.s[i] == ",":
            return False, self.ws(i + 1)
        if i < self.n and self.s[i] == close:
            return True, i + 1
        raise json.JSONDecodeError("Expecting ',' delimiter", self.s, i)

    def _string(self, i: int) -> tuple[str, int]:
        """The string whose opening quote is just before `i`, and the index after its closing quote."""
        s, n, parts, start = self.s, self.n, [], i
        while True:
            stop = min(i + STEP, n)
            match = _PLAIN.match(s, i, stop)
            j = match.end() if match else i
            parts.append(s[i:j])
            if j == stop and j < n:
                i = j
                continue
            if j >= n:
                raise json.JSONDecodeError("Unterminated string starting at", s, start - 1)
            if s[j] == '"':
                return "".join(parts), j + 1
            if s[j] != "\\":
                raise json.JSONDecodeError("Invalid control character at", s, j)
            piece, i = self._escape(j)
            parts.append(piece)

    def _escape(self, j: int) -> tuple[str, int]:
        """The text of the escape at `j` (a backslash), and the index after it."""
        s = self.s
        if s[j + 1 : j + 2] != "u":
            end = j + 2
        elif _SURROGATE.match(s, j) and s[j + 2 : j + 3] in "dD" and s[j + 3 : j + 4] in "89abAB":
            end = j + 12 if s[j + 6 : j + 8] == "\\u" else j + 6
        else:
            end = j + 6
        try:
            piece = json.loads('"' + s[j:end] + '"')
        except json.JSONDecodeError:
            raise json.JSONDecodeError("Invalid \\escape", s, j) from None
        if len(piece) == 1 and 0xD800 <= ord(piece) <= 0xDFFF:
            raise LoneSurrogate("a lone surrogate escape")
        if len(piece) == 2 and any(0xD800 <= ord(c) <= 0xDFFF for c in piece):
            # a high surrogate followed by an escape that is not its low half
            raise LoneSurrogate("a lone surrogate escape")
        return piece, end


def _check_surrogates(value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise LoneSurrogate("a lone surrogate escape") from None
