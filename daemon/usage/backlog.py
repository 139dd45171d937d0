"""Rows waiting for the databank: in memory up to a bound, then in the spool, oldest first.

The writer thread keeps a batch here when SQLite cannot take it (disk full, a damaged file, a lock
held past the busy timeout) and writes the backlog back, oldest first, once it can. The spool
always holds older rows than memory (a spill moves every row in memory to the spool's end), so
draining the spool and then memory keeps the order rows were submitted in.

Only the writer thread calls it; the counts it exposes are plain ints, safe to read from others.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable

from daemon.usage.record import UsageRecord
from daemon.usage.spool import Spool

log = logging.getLogger("memproxy.usage")

# A spooled in_flight row that a previous daemon left: that request will never end.
INTERRUPTED_ERROR = "the daemon stopped before the request finished"
# Rows kept in memory before they go to the spool (the spool is written in one append).
MEMORY_ROWS = 1000
MEMORY_BYTES = 4 * 1024 * 1024
# When the spool cannot take them either (its disk is full too), memory holds rows up to this;
# past it, new rows are lost, and counted.
MAX_MEMORY_BYTES = 128 * 1024 * 1024


def _size(record: UsageRecord) -> int:
    """About what a record costs in memory: its texts dominate."""
    texts = (record.request_json, record.response_text, record.error)
    return 512 + sum(len(t) for t in texts if isinstance(t, str))


class Backlog:
    """The rows SQLite has not taken yet: `memory` (newest) behind the `spool` (oldest)."""

    def __init__(
        self,
        spool: Spool,
        *,
        memory_rows: int = MEMORY_ROWS,
        memory_bytes: int = MEMORY_BYTES,
        max_memory_bytes: int = MAX_MEMORY_BYTES,
    ) -> None:
        self.spool = spool
        self.memory: deque[UsageRecord] = deque()
        self.memory_bytes = 0
        self.lost = 0  # rows neither memory nor the spool could hold
        self._memory_rows = memory_rows
        self._spill_bytes = memory_bytes
        self._max_bytes = max_memory_bytes

    def __len__(self) -> int:
        return len(self.memory) + self.spool.rows

    @property
    def over_bound(self) -> bool:
        """Memory holds more than it should: time to spill to the spool."""
        return len(self.memory) > self._memory_rows or self.memory_bytes > self._spill_bytes

    def add(self, records: Iterable[UsageRecord]) -> int:
        """Keep `records` behind everything waiting; return how many had to be lost (memory is full)."""
        lost = 0
        for record in records:
            size = _size(record)
            if self.memory_bytes + size > self._max_bytes:
                lost += 1
                continue
            self.memory.append(record)
            self.memory_bytes += size
        if lost:
            self.lost += lost
            log.error(
                "usage databank and its spool both refuse rows and %d MiB of rows wait in memory: %d row(s) LOST",
                self._max_bytes >> 20,
                lost,
            )
        return lost

    def spill(self) -> bool:
        """Move every row in memory to the spool's end; False (rows still in memory) if it cannot take them."""
        if not self.memory:
            return True
        try:
            self.spool.append(list(self.memory))
        except OSError as exc:
            log.warning("cannot spool %d waiting usage rows to %s: %s", len(self.memory), self.spool.path, exc)
            return False
        log.warning("spooled %d waiting usage rows to %s", len(self.memory), self.spool.path)
        self.memory.clear()
        self.memory_bytes = 0
        return True

    def drain(self, write: Callable[[list[UsageRecord]], None], batch_size: int) -> int:
        """Write every waiting row with `write`, oldest first, `batch_size` a transaction; return how many.

        Stops at the first batch `write` raises on (raising it); what was written is off the backlog.
        """
        written = 0
        for batch, end in self.spool.batches(batch_size):
            if end <= self.spool.inherited:
                batch = [_ended(record) for record in batch]
            write(batch)
            self.spool.advance(end, len(batch))
            written += len(batch)
        if self.spool.offset or self.spool.path.exists():
            self.spool.clear()
        while self.memory:
            batch = [self.memory[i] for i in range(min(batch_size, len(self.memory)))]
            write(batch)
            for record in batch:
                self.memory.popleft()
                self.memory_bytes -= _size(record)
            written += len(batch)
        self.memory_bytes = 0
        return written


def _ended(record: UsageRecord) -> UsageRecord:
    """A row from a previous daemon's spool: one still in flight was interrupted by that daemon's end."""
    if record.status != "in_flight":
        return record
    return dataclasses.replace(record, status="interrupted", error=record.error or INTERRUPTED_ERROR)
