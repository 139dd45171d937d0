"""A big request body's objects freed off the event loop, in steps (issue 16, item 9).

Freeing the 100,000 tools of an 18.9 MiB body is one C deallocation cascade over 800,000 objects
(0.04–0.15 s) wherever its last reference goes: on the loop, where the request's frames end, it holds
every other request; in a worker thread it holds the GIL for the whole cascade just the same.

So `hold` takes a reference of its own to a big body the moment it is parsed, and one thread looks
after what it holds. Its reference is then always the last one to go, whoever else had one (the
pipeline's locals, the memory-augmented copy, the kwargs LiteLLM keeps in its logging object, an
exception's traceback): once CPython's reference count says nothing else holds the body, nobody
else can reach it, and the thread takes it apart a piece at a time (`list.pop`, `dict.popitem`),
each piece freed on its own, so the loop gets the GIL back every switch interval (5 ms). A piece
that something else still holds (the tools list a LiteLLM kwargs copy shares) is not touched: it
waits its turn the same way. A body still held elsewhere after `GIVE_UP_S` is let go (whoever holds
it that long frees it).

This relies on CPython's exact reference counts under the GIL (3.11, as the project runs); the
counts it compares with are measured on this interpreter at import, not assumed.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any

POLL_S = 0.01
GIVE_UP_S = 3600.0
# a short sleep every so many pieces: the loop, waking for another request, finds the GIL free within
# ~0.1 ms instead of waiting out the switch interval (5 ms) at each wake; /health takes several wakes
PIECES_PER_PAUSE = 1000
PAUSE_S = 0.0005

log = logging.getLogger("memproxy.gateway")


def _held_refs(holder: list[Any], i: int) -> int:
    return sys.getrefcount(holder[i])


def _popped_refs() -> int:
    holder: list[Any] = [[0]]
    item = holder.pop()
    return sys.getrefcount(item)


# the counts of an object held by nothing but this module: in one of its lists / in one local name
_ALONE_HELD = _held_refs([[0]], 0)
_ALONE_POPPED = _popped_refs()


def take_apart(stack: list[Any], waiting: list[Any]) -> None:
    """Empty the containers on `stack` (each held by nothing else) piece by piece; a piece held
    elsewhere too goes to `waiting`."""
    pieces = 0
    while stack:
        top = stack[-1]
        if not top:
            del top
            stack.pop()  # an empty dict or list: freed at once
            continue
        item = top.popitem()[1] if isinstance(top, dict) else top.pop()
        del top
        if isinstance(item, dict | list) and item:
            if sys.getrefcount(item) <= _ALONE_POPPED:
                stack.append(item)
            else:
                waiting.append(item)
        del item  # a string or a number: one free
        pieces += 1
        if pieces % PIECES_PER_PAUSE == 0:
            time.sleep(PAUSE_S)


class Freer:
    """The one thread that holds big bodies until nothing else does, then takes them apart."""

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.freed = 0  # bodies (or pieces of one) taken apart so far
        self.given_up = 0

    def hold(self, value: Any) -> None:
        """Keep `value` (a parsed JSON value) until nothing else holds it, then free it in steps."""
        if not isinstance(value, dict | list):
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memproxy-freer", daemon=True)
                self._thread.start()
        self._inbox.put(value)

    def _run(self) -> None:
        waiting: list[Any] = []
        since: list[float] = []
        while True:
            try:
                waiting.append(self._inbox.get(timeout=POLL_S) if waiting else self._inbox.get())
                since.append(time.monotonic())
            except queue.Empty:
                pass
            try:
                self._sweep(waiting, since)
            except Exception:  # the thread must outlive any one body: what it holds would never go
                log.exception("freeing a big request body failed; it is let go as it is")
                waiting.clear()
                since.clear()

    def _sweep(self, waiting: list[Any], since: list[float]) -> None:
        now = time.monotonic()
        for i in range(len(waiting) - 1, -1, -1):
            if _held_refs(waiting, i) <= _ALONE_HELD:
                stack = [waiting.pop(i)]
                since.pop(i)
                take_apart(stack, waiting)  # what it finds held elsewhere is appended
                since.extend([now] * (len(waiting) - len(since)))
                self.freed += 1
            elif now - since[i] > GIVE_UP_S:
                del waiting[i], since[i]
                self.given_up += 1


FREER = Freer()
hold = FREER.hold
