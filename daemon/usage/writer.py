"""The one thread that writes usage rows, so a request never waits for the disk.

The request path calls `submit()`, which only puts the record on a queue. A background thread
(a real thread, not a task: SQLite calls block) drains the queue in batches and writes each batch
in one `BEGIN IMMEDIATE` transaction. A request is submitted twice, as `in_flight` when it starts
and with its final status when it ends. A final row replaces whatever the id had (`INSERT OR
REPLACE`); a provisional one (`in_flight`, or `interrupted` from a dead daemon's spool) replaces
only a less final one, so a replayed provisional row never undoes a final one.

When SQLite cannot take a batch (disk full, damaged file, a lock held past `busy_timeout`), the
rows are kept in a `Backlog` (memory, then the spool file beside the databank), every later row
queues behind them, and the thread retries with backoff until the databank takes them all;
`health()` says `degraded`, why, and how many rows wait. A spool left by a previous daemon is
written first. Rows are lost only when memory and the spool both refuse them, and then counted.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from daemon.errors import DatabankError
from daemon.sqlite import transaction
from daemon.usage.backlog import Backlog
from daemon.usage.record import COLUMNS, UsageRecord, iso_utc
from daemon.usage.spool import Spool, spool_path
from daemon.usage.store import open_db

log = logging.getLogger("memproxy.usage")

_COLS = ", ".join(COLUMNS)
_MARKS = ", ".join("?" for _ in COLUMNS)
_REPLACE = f"INSERT OR REPLACE INTO requests ({_COLS}) VALUES ({_MARKS})"
# A provisional row replaces only a row less final than itself: `in_flight` nothing but its own
# kind, `interrupted` (a dead daemon's, replayed from its spool) an `in_flight`. A SELECT that
# yields nothing inserts nothing, so no trigger fires (INSERT OR IGNORE would still run the FTS
# BEFORE INSERT trigger and drop the existing row's index entry).
_GUARDED = (
    f"INSERT OR REPLACE INTO requests ({_COLS}) SELECT {_MARKS} "
    "WHERE NOT EXISTS (SELECT 1 FROM requests WHERE id = ? AND status NOT IN ({kept}))"
)
_PROVISIONAL = {
    "in_flight": _GUARDED.format(kept="'in_flight'"),
    "interrupted": _GUARDED.format(kept="'in_flight', 'interrupted'"),
}
# Retries of a backlog: soon at first, then every few seconds while the databank keeps refusing.
_BACKOFF_START_S = 0.1
_BACKOFF_MAX_S = 2.0
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


def describe_failure(exc: BaseException) -> str:
    """What stops the databank from taking rows, for `/health` and `memproxy status`."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "full" in lowered or getattr(exc, "errno", None) == 28:  # ENOSPC
        what = "the disk holding the databank is full"
    elif "locked" in lowered or "busy" in lowered:
        what = "another process holds the databank's write lock"
    elif "malformed" in lowered or "not a database" in lowered:
        what = "the databank file is damaged (see `memproxy db check`)"
    else:
        what = "the databank cannot be written"
    return f"{what}: {text}"


class UsageWriter:
    """Batches `UsageRecord`s into the databank from a single background thread."""

    def __init__(
        self,
        db_path: str | Path,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        *,
        busy_timeout_ms: int = 5000,
        backlog: Backlog | None = None,
        prepare: Callable[[UsageRecord], None] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.written = 0  # rows written (a replaced row counts each time)
        self.transactions = 0  # committed batches: fewer than `written` means batching works
        self.dropped = 0  # rows lost for good (a value SQLite cannot store; memory and spool both full)
        self.write_failures = 0  # transactions the databank refused
        self.problem: str | None = None  # why rows are waiting, while they are
        self.failing_since: str | None = None
        self._backlog = backlog  # built in start(): reading the spool touches the disk
        self._prepare = prepare  # each record's last step before its insert: pricing (daemon.usage.pricing)
        self._retry_at = 0.0
        self._delay = _BACKOFF_START_S
        self._waiting_markers: list[_Flush] = []
        self._queue: queue.SimpleQueue[UsageRecord | _Flush] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lifecycle = threading.Lock()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Rows SQLite has not taken yet (in memory or in the spool), not counting the queue."""
        return len(self._backlog) if self._backlog is not None else 0

    def health(self) -> dict[str, Any]:
        """`healthy`, or `degraded` with the reason and the rows waiting (for /health, status, /metrics)."""
        backlog = self._backlog
        waiting = len(backlog) if backlog is not None else 0
        lost = self.dropped + (backlog.lost if backlog is not None else 0)
        reasons = []
        if waiting or self.problem:
            reasons.append(f"{self.problem or 'the databank refused rows'}; {waiting} row(s) wait to be written")
        if lost:
            reasons.append(f"{lost} row(s) could not be written and are lost (see the daemon log)")
        if self._thread is not None and not self.running and not self._closed:
            reasons.append("the usage writer thread has stopped")
        return {
            "status": "degraded" if reasons else "healthy",
            "reason": "; ".join(reasons) or None,
            "rows_waiting": waiting,
            "rows_spooled": backlog.spool.rows if backlog is not None else 0,
            "rows_lost": lost,
            "write_failures": self.write_failures,
            "failing_since": self.failing_since,
            "spool": str(spool_path(self.db_path)),
        }

    def start(self) -> None:
        """Migrate the database (raising `DatabankError` now rather than in the thread) and start writing."""
        with self._lifecycle:
            if self._thread is not None or self._closed:
                return
            try:
                open_db(self.db_path, busy_timeout_ms=self.busy_timeout_ms).close()
            except sqlite3.Error as exc:
                raise DatabankError(f"cannot open the usage databank {self.db_path}: {exc}") from exc
            if self._backlog is None:
                self._backlog = Backlog(Spool(spool_path(self.db_path)))
            spool = self._backlog.spool
            if spool.rows:
                log.warning("%d usage rows wait in %s; writing them", spool.rows, spool.path)
                self._retry_at = 0.0  # a spool left by a previous daemon is written first
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
            return self._queue.empty() and not self.waiting
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Write everything pending (or spool it), then stop the thread; safe to call twice. False on timeout."""
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
                stop = self._collect(batch, markers, self._retry_in())
                if self._prepare is not None:
                    for record in batch:
                        try:
                            self._prepare(record)
                        except Exception:  # a failed step (a price) never costs the batch its rows
                            log.exception("preparing row %s failed; it is stored as it is", record.id)
                self._take(batch)
                if self.waiting and not stop and time.monotonic() >= self._retry_at:
                    self._retry()
            except Exception:  # never lose the thread: the next batch may well succeed
                log.exception("usage writer failed on %d rows", len(batch))
            finally:
                self._release(markers)
        self._finish()
        self._close_conn()

    def _retry_in(self) -> float | None:
        """How long the next wait for the queue may last: until the next retry, if rows wait."""
        if not self.waiting:
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def _collect(self, batch: list[UsageRecord], markers: list[_Flush], wait: float | None = None) -> bool:
        """Fill `batch` from the queue; return True if the thread should stop after writing it.

        Waits for a first item (at most `wait` seconds, if given), then gathers more for up to
        `flush_interval`, so a burst becomes one transaction; a flush or stop marker ends the
        gathering at once.
        """
        try:
            item = self._queue.get(timeout=wait) if wait is not None else self._queue.get()
        except queue.Empty:
            return False
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

    def _take(self, batch: list[UsageRecord]) -> None:
        """Write `batch`, or keep it behind the rows already waiting (order is kept either way)."""
        if not batch:
            return
        assert self._backlog is not None
        if self.waiting:
            self._backlog.add(batch)
            return
        try:
            self._write(batch)
        except Exception as exc:
            self._failed(exc, len(batch))  # the reason first: /health never counts rows waiting without it
            self._backlog.add(batch)

    def _retry(self) -> None:
        """Write the backlog, oldest first; on failure, spill memory to the spool if it is over its bound."""
        assert self._backlog is not None
        try:
            written = self._backlog.drain(self._write, self.batch_size)
        except Exception as exc:
            self._failed(exc, self.waiting)
            if self._backlog.over_bound:
                self._backlog.spill()
            return
        if self.problem is not None or written:
            log.warning("usage databank takes rows again; %d waiting row(s) written", written)
        self.problem = self.failing_since = None
        self._delay = _BACKOFF_START_S

    def _failed(self, exc: BaseException, rows: int) -> None:
        self.write_failures += 1
        self._close_conn()  # a databank replaced (recovered) or back from a full disk is reopened
        problem = describe_failure(exc)
        if problem != self.problem:
            log.warning("usage databank refused %d rows (%s); kept, retrying in %.2f s", rows, problem, self._delay)
        self.problem = problem
        self.failing_since = self.failing_since or iso_utc()
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, _BACKOFF_MAX_S)

    def _release(self, markers: list[_Flush]) -> None:
        """Set the flush markers whose rows are all written; the rest wait for the backlog to drain."""
        self._waiting_markers += markers
        if not self.waiting:
            for marker in self._waiting_markers:
                marker.done.set()
            self._waiting_markers = []

    def _finish(self) -> None:
        """At stop: rows still waiting go to the spool (the next start writes them), or are counted lost.

        Spooling comes first: it is quick, where one more try of a locked databank waits `busy_timeout`.
        """
        backlog = self._backlog
        if backlog is not None and self.waiting:
            if backlog.spill():
                log.warning("usage writer stopped; %d rows wait in the spool for the next start", self.waiting)
            else:
                try:
                    backlog.drain(self._write, self.batch_size)
                except Exception as exc:
                    lost = len(backlog.memory)
                    backlog.lost += lost
                    log.error("usage writer stopped with %d rows neither written nor spooled (%s): LOST", lost, exc)
        for marker in self._waiting_markers:
            marker.done.set()
        self._waiting_markers = []

    def _write(self, batch: Sequence[UsageRecord]) -> None:
        """One transaction; a row SQLite cannot store is dropped alone. Database failures propagate."""
        try:
            self._insert(batch)
        except _BAD_ROW_ERRORS:
            # One bad row (a value SQLite cannot store) must not cost the rest of the batch.
            for record in batch:
                try:
                    self._insert([record])
                except _BAD_ROW_ERRORS:
                    log.exception("usage row %s could not be written; dropped", record.id)
                    self.dropped += 1

    def _insert(self, batch: Sequence[UsageRecord]) -> None:
        with transaction(self._connection()) as conn:
            # Runs of rows of one kind, in order: a batch may hold both rows of a request.
            for status, run in groupby(batch, key=lambda r: r.status if r.status in _PROVISIONAL else ""):
                if status:
                    conn.executemany(_PROVISIONAL[status], [(*r.as_row(), r.id) for r in run])
                else:
                    conn.executemany(_REPLACE, [r.as_row() for r in run])
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
