"""The one thread that writes usage rows, so a request never waits for the disk.

The request path calls `submit()`, which only puts the record on a queue. A background thread
(a real thread, not a task: SQLite calls block) drains the queue in batches and writes each batch
in one `BEGIN IMMEDIATE` transaction with `INSERT OR REPLACE`. A request is submitted twice, as
`in_flight` when it starts and with its final status when it ends; the queue is FIFO and the
later row replaces the earlier, so the final one wins.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from daemon.errors import DatabankError
from daemon.sqlite import transaction
from daemon.usage.record import COLUMNS, UsageRecord
from daemon.usage.store import open_db

log = logging.getLogger("memproxy.usage")

_INSERT = f"INSERT OR REPLACE INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
# How long to keep retrying a batch while another process holds the database (on top of
# SQLite's own busy_timeout per attempt) before the batch is given up.
_LOCKED_RETRIES = 8
_BACKOFF_START_S = 0.05
_BACKOFF_MAX_S = 1.0
# Errors caused by a row's values rather than by the database.
_BAD_ROW_ERRORS = (
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    OverflowError,
    ValueError,
)


class _Flush:
    """Queue marker: everything before it is written once `done` is set."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop(_Flush):
    """Queue marker: write what is pending, then end the thread."""

    __slots__ = ()


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class UsageWriter:
    """Batches `UsageRecord`s into the databank from a single background thread."""

    def __init__(
        self,
        db_path: str | Path,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        *,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.db_path = Path(db_path)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.written = 0  # rows written (a replaced row counts each time)
        self.transactions = 0  # committed batches: fewer than `written` means batching works
        self.dropped = 0  # rows given up after errors
        self._queue: queue.SimpleQueue[UsageRecord | _Flush] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lifecycle = threading.Lock()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Migrate the database (raising `DatabankError` now rather than in the thread) and start writing."""
        with self._lifecycle:
            if self._thread is not None or self._closed:
                return
            try:
                open_db(self.db_path, busy_timeout_ms=self.busy_timeout_ms).close()
            except sqlite3.Error as exc:
                raise DatabankError(f"cannot open the usage databank {self.db_path}: {exc}") from exc
            self._thread = threading.Thread(target=self._run, name="memproxy-usage-writer", daemon=True)
            self._thread.start()

    def submit(self, record: UsageRecord) -> None:
        """Queue `record` for writing; returns at once and never raises."""
        try:
            if self._closed:
                self.dropped += 1
                log.warning("usage writer is closed; dropped row %s", record.id)
                return
            self._queue.put(record)
        except Exception:  # the caller is a request: logging must never break it
            log.exception("could not queue usage row")

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything submitted so far is written; False if `timeout` ran out first."""
        if not self.running:
            return self._queue.empty()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Write everything pending, then stop the thread; safe to call twice. False on timeout."""
        with self._lifecycle:
            if self._closed:
                return not self.running
            self._closed = True
            thread = self._thread
        if thread is None:
            # Never started: nothing can write what was queued.
            return self._queue.empty()
        self._queue.put(_Stop())
        thread.join(timeout)
        if thread.is_alive():
            log.error("usage writer did not finish within %.1f s; unwritten rows may be lost", timeout)
            return False
        return True

    # The thread.

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[UsageRecord] = []
            markers: list[_Flush] = []
            try:
                stop = self._collect(batch, markers)
                if batch:
                    self._write(batch)
            except Exception:  # never lose the thread: the next batch may well succeed
                log.exception("usage writer failed; %d rows dropped", len(batch))
                self.dropped += len(batch)
                self._close_conn()
            finally:
                for marker in markers:
                    marker.done.set()
        self._close_conn()

    def _collect(self, batch: list[UsageRecord], markers: list[_Flush]) -> bool:
        """Fill `batch` from the queue; return True if the thread should stop after writing it.

        Waits for a first item, then gathers more for up to `flush_interval`, so a burst becomes
        one transaction; a flush or stop marker ends the gathering at once.
        """
        item = self._queue.get()
        deadline = time.monotonic() + self.flush_interval
        while True:
            if isinstance(item, _Flush):
                markers.append(item)
                return isinstance(item, _Stop)
            batch.append(item)
            if len(batch) >= self.batch_size:
                return False
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False

    def _write(self, batch: list[UsageRecord]) -> None:
        try:
            self._insert_retrying(batch)
        except _BAD_ROW_ERRORS:
            # One bad row (a value SQLite cannot store) must not cost the rest of the batch.
            for record in batch:
                try:
                    self._insert_retrying([record])
                except Exception:
                    log.exception("usage row %s could not be written; dropped", record.id)
                    self.dropped += 1

    def _insert_retrying(self, batch: list[UsageRecord]) -> None:
        delay = _BACKOFF_START_S
        for attempt in range(_LOCKED_RETRIES + 1):
            try:
                self._insert(batch)
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or attempt == _LOCKED_RETRIES:
                    raise
                log.warning("usage databank is locked; retrying %d rows in %.2f s", len(batch), delay)
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)

    def _insert(self, batch: list[UsageRecord]) -> None:
        with transaction(self._connection()) as conn:
            conn.executemany(_INSERT, [record.as_row() for record in batch])
        self.transactions += 1
        self.written += len(batch)

    def _connection(self) -> sqlite3.Connection:
        # Opened lazily in this thread (sqlite3 connections belong to the thread that made them),
        # and again after a failure, so a database that comes back is picked up.
        if self._conn is None:
            self._conn = open_db(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        return self._conn

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                log.exception("closing the usage databank failed")
