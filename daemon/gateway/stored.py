"""What the databank keeps of a request's body and of its answer: at most `logging.max_stored_bytes`.

A longer text is cut there, visibly: it ends with a marker giving the whole text's size. Only a
window of the text is ever looked at (`window`): relays keep no more of an answer than that, and
redaction scans that much, not a 200 MiB answer. The window is `SLACK` characters longer than the
cut, so a key that straddles the cut is still redacted whole before the cut is made.
"""

from __future__ import annotations

# longer than any key: a key starting before the cut ends inside the window
SLACK = 4096
# memory capture keeps 2,000 characters of an answer (daemon.memory.capture): relays keep at least this
CAPTURE_CHARS = 8192
MARKER = "\n[memproxy: cut to {kept:,} of {total:,} bytes by logging.max_stored_bytes]"


def utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def keep_chars(cap: int) -> int:
    """How many characters of an answer a relay keeps for a databank cap of `cap` bytes (and capture)."""
    return max(cap, CAPTURE_CHARS) + SLACK


def window(text: str, cap: int) -> str:
    """The part of `text` its stored form can come from (what redaction needs to scan)."""
    return text if len(text) <= cap + SLACK else text[: cap + SLACK]


def decoded(raw: bytes, cap: int) -> str:
    """The window of a request body as text (a body cut inside a character loses that character)."""
    return raw[: cap + SLACK].decode("utf-8", "replace")


def clip(text: str, cap: int, total: int | None = None) -> str:
    """`text` (from a text of `total` UTF-8 bytes, itself when None) as stored: whole when it fits in
    `cap` bytes, else cut with the marker, all of it within `cap` bytes."""
    size = utf8_len(text)
    total = max(total or 0, size)
    if total <= cap:
        return text
    marker = MARKER.format(kept=cap, total=total)
    room = cap - len(marker)
    encoded = text.encode("utf-8", "surrogatepass")
    if room <= 0:  # a cap too small for the marker: the cut alone
        return encoded[:cap].decode("utf-8", "ignore")
    return encoded[:room].decode("utf-8", "ignore") + marker
