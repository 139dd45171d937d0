"""The spool: rows the databank could not take yet, in a file beside it, until it can.

One JSON object per line (a row's columns by name), append-only, owner-only (0600: rows hold
prompts). Only the writer thread touches it while the daemon runs; `memproxy status` and
`memproxy db check` only count its lines. A row is never lost to a torn write: an append that
fails is cut back to where it started, and a line left half-written by a crash is skipped on
reading (and logged), never glued onto the next one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from daemon.usage.record import COLUMNS, UsageRecord

log = logging.getLogger("memproxy.usage")

_COLUMNS = frozenset(COLUMNS)


def spool_path(db_path: str | Path) -> Path:
    """Where the spool of the databank at `db_path` lives: `memproxy.db` → `memproxy-spool.jsonl`."""
    path = Path(db_path)
    return path.with_name(f"{path.stem}-spool.jsonl")


def encode(record: UsageRecord) -> bytes:
    """One spool line for `record`."""
    row = dict(zip(COLUMNS, record.as_row(), strict=True))
    # default=str: a value JSON cannot hold must not cost the row (SQLite would have refused it too).
    return json.dumps(row, default=str, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> UsageRecord:
    """The record of one spool line; ValueError/TypeError if it is not one."""
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("not a usage row")
    return UsageRecord(**{k: v for k, v in data.items() if k in _COLUMNS})


def count_rows(path: str | Path) -> int:
    """How many rows the spool file at `path` holds (0 if there is none)."""
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


class Spool:
    """The spool file, read from a byte offset so rows already written are not read twice."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0  # bytes before this are rows already in the databank
        self.rows = count_rows(self.path)  # rows after `offset`
        self.inherited = self._size()  # bytes a previous daemon left: their in_flight rows are dead

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, records: Sequence[UsageRecord]) -> None:
        """Add `records` at the end (fsynced); OSError if the disk refuses, with the file as it was."""
        if not records:
            return
        data = b"".join(encode(r) for r in records)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file someone created with a wider mode is narrowed too
            start = os.fstat(fd).st_size
            if start and os.pread(fd, 1, start - 1) != b"\n":
                data = b"\n" + data  # a crash cut the last line: never glue a row onto it
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)
        self.rows += len(records)

    def batches(self, size: int) -> Iterator[tuple[list[UsageRecord], int]]:
        """Rows from `offset` on, `size` at a time, each with the byte offset just after it."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - a generator: closed in finally
        except FileNotFoundError:
            return
        try:
            f.seek(self.offset)
            batch: list[UsageRecord] = []
            while line := f.readline():
                if line.strip():
                    try:
                        batch.append(decode(line))
                    except (ValueError, TypeError):
                        log.error("spool %s: skipped a line that is not a usage row: %.80r", self.path, line)
                if len(batch) >= size:
                    yield batch, f.tell()
                    batch = []
            if batch:
                yield batch, f.tell()
        finally:
            f.close()

    def advance(self, offset: int, rows: int) -> None:
        """`rows` rows up to byte `offset` are in the databank now."""
        self.offset = offset
        self.rows = max(0, self.rows - rows)

    def clear(self) -> None:
        """Every row is in the databank: remove the file."""
        self.path.unlink(missing_ok=True)
        self.offset = self.rows = self.inherited = 0
