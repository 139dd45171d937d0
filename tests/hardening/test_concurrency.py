"""Concurrency of the process lifecycle: ten `up`s at once, `down` while 20 streams are open.

Real daemons started with `memproxy up`, each in its own MEMPROXY_HOME, in front of the real fake upstream.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import db_rows
from tests.support.hardening import USER, config_text, figure
from tests.support.ports import free_port
from tests.support.processes import daemon_processes, kill_leftovers
from tests.support.upstream.observing import ObservingUpstream
from tests.support.wire import sse_events

pytestmark = pytest.mark.e2e

OPEN_STREAMS = 20


@pytest.mark.slow
def test_ten_concurrent_ups_start_one_daemon(tmp_path: Path, fake: ObservingUpstream) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(config_text(fake.url))
    d = Daemon(home=home, port=free_port())
    try:
        t0 = time.monotonic()
        procs = [d.popen("up", "--port", str(d.port)) for _ in range(10)]
        outputs = [p.communicate(timeout=180) for p in procs]
        took = time.monotonic() - t0
        codes = [p.returncode for p in procs]
        pids = {int(m.group(1)) for out, _ in outputs if (m := re.search(r"pid (\d+)", out))}
        running = daemon_processes(home)
        figure(
            "ten_concurrent_ups",
            ups=len(procs),
            exit_0=codes.count(0),
            started=sum("is up at" in out for out, _ in outputs),
            already_running=sum("already running" in out for out, _ in outputs),
            daemons=len(running),
            seconds=took,
        )
        assert codes == [0] * 10, outputs
        assert len(pids) == 1 and list(pids) == running, (pids, running)
        assert sum("already running" in out for out, _ in outputs) == 9
        assert httpx.get(f"{d.url}/health", timeout=5).status_code == 200
    finally:
        d.down()
        kill_leftovers(home)


@dataclass
class Drain:
    """What `memproxy down` did to 20 open streams, and what they saw."""

    daemon: Daemon
    down_exit: int
    down_seconds: float
    streams: list[bytes] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    daemons_after: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""


def _drain(home: Path, fake: ObservingUpstream, chunks: int, interval_ms: int, timeout: float) -> Drain:
    """Start a daemon, open 20 streams, run `memproxy down --timeout T` while they are all mid-answer."""
    d = start_daemon(home, config_text(fake.url, timeout=120))
    try:
        fake.chunks, fake.chunk_interval_ms = chunks, interval_ms
        first = threading.Semaphore(0)
        bodies: list[bytes] = [b""] * OPEN_STREAMS
        failures: list[str] = []

        def stream(i: int) -> None:
            route, model = ("/v1/chat/completions", "gpt-4o") if i % 2 else ("/v1/messages", "claude-sonnet-4-5")
            body = {"model": model, "messages": USER, "max_tokens": 500, "stream": True}
            released = False
            try:
                with httpx.stream(
                    "POST", f"{d.url}{route}", json=body, headers={"x-memproxy-project": "drain"}, timeout=60
                ) as r:
                    for chunk in r.iter_raw():
                        bodies[i] += chunk
                        if not released:
                            released = True
                            first.release()
            except httpx.HTTPError as exc:
                failures.append(f"{i}: {type(exc).__name__}")
            finally:
                if not released:
                    first.release()

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(OPEN_STREAMS)]
        for t in threads:
            t.start()
        for _ in threads:
            assert first.acquire(timeout=30)
        t0 = time.monotonic()
        down = d.cli("down", "--timeout", str(timeout))
        took = time.monotonic() - t0
        for t in threads:
            t.join(timeout=60)
        return Drain(
            daemon=d,
            down_exit=down.returncode,
            down_seconds=took,
            streams=bodies,
            failures=failures,
            daemons_after=daemon_processes(home),
            rows=db_rows(home, "project = 'drain'"),
            log=d.log_tail(),
        )
    finally:
        d.down()
        kill_leftovers(home)


def _complete(raw: bytes) -> bool:
    events = sse_events(raw)
    return any(data == "[DONE]" for _, data in events) or any(name == "message_stop" for name, _ in events)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, upstream: ObservingUpstream) -> Drain:
    """Streams of ~2.5 s, `down --timeout 15`: every stream should finish."""
    upstream.reset()
    result = _drain(tmp_path_factory.mktemp("drain-finish"), upstream, 10, 250, 15)
    upstream.chunks, upstream.chunk_interval_ms = None, 0
    figure(
        "down_during_20_streams[finish]",
        down_exit=result.down_exit,
        down_s=result.down_seconds,
        streams_complete=sum(_complete(b) for b in result.streams),
        client_errors=len(result.failures),
        daemons_after=len(result.daemons_after),
        rows_ok=sum(r["status"] == "ok" for r in result.rows),
        rows_in_flight=sum(r["status"] == "in_flight" for r in result.rows),
    )
    return result


@pytest.mark.slow
def test_down_lets_20_open_streams_finish_and_exits(finished: Drain) -> None:
    assert finished.down_exit == 0
    assert finished.failures == []
    assert [_complete(b) for b in finished.streams] == [True] * OPEN_STREAMS
    assert finished.daemons_after == []
    assert not (finished.daemon.home / "memproxy.pid").exists()
    assert finished.down_seconds < 10


BUG_SIGTERM_RERAISED = pytest.mark.regression(
    reason="BUG: daemon/server.py serve(): uvicorn re-raises SIGTERM after its graceful shutdown "
    "(Server.capture_signals → signal.raise_signal), so the process dies before `finally: gateway.writer.close()`: "
    "rows queued at the end are lost (left in_flight) and 'memproxy stopped' is never logged; fix: run "
    "`asyncio.run(server.serve(sockets=[sock]))` with our own SIGTERM/SIGINT handlers setting server.should_exit "
    "(or restore default handlers after serve), then close the writer",
    strict=True,
)


@BUG_SIGTERM_RERAISED
@pytest.mark.slow
def test_down_records_the_20_finished_streams_and_logs_a_clean_stop(finished: Drain) -> None:
    assert "memproxy stopped" in finished.log, finished.log
    assert sorted(r["status"] for r in finished.rows) == ["ok"] * OPEN_STREAMS


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory, upstream: ObservingUpstream) -> Drain:
    """Streams of ~40 s, `down --timeout 2`: every stream is cut at the timeout."""
    upstream.reset()
    result = _drain(tmp_path_factory.mktemp("drain-cut"), upstream, 200, 200, 2)
    upstream.chunks, upstream.chunk_interval_ms = None, 0
    figure(
        "down_during_20_streams[cut]",
        down_exit=result.down_exit,
        down_s=result.down_seconds,
        streams_complete=sum(_complete(b) for b in result.streams),
        client_errors=len(result.failures),
        daemons_after=len(result.daemons_after),
        rows=len(result.rows),
        rows_in_flight=sum(r["status"] == "in_flight" for r in result.rows),
        row_statuses=",".join(sorted({r["status"] for r in result.rows})),
    )
    return result


@pytest.mark.slow
def test_down_cuts_20_endless_streams_at_the_timeout_and_exits(cut: Drain) -> None:
    assert cut.down_exit == 0
    assert cut.daemons_after == []
    assert not (cut.daemon.home / "memproxy.pid").exists()
    # SIGTERM, then after --timeout 2 s SIGINT cuts the streams; a SIGKILL (5 s later) would leave no
    # "memproxy stopped" in the log (no timed assert: a loaded machine stretches every step)
    assert "memproxy stopped" in cut.log, f"down took {cut.down_seconds:.1f} s and the daemon did not stop itself"
    assert not any(_complete(b) for b in cut.streams)


@BUG_SIGTERM_RERAISED
@pytest.mark.slow
def test_down_records_the_20_cut_streams(cut: Drain) -> None:
    assert "memproxy stopped" in cut.log, cut.log
    assert len(cut.rows) == OPEN_STREAMS
    assert [r for r in cut.rows if r["status"] == "in_flight"] == []


@pytest.mark.slow
def test_a_cut_stream_ends_with_a_reason_and_leaves_no_traceback(cut: Drain) -> None:
    """A stream `down` cannot wait for ends with an error event saying memproxy stopped (what the
    client's SDK shows), and its row says so, not that the client hung up. uvicorn logged a
    CancelledError traceback per stream when the stopping loop cancelled them, 20 in all."""
    log = (cut.daemon.home / "daemon.log").read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert [b"memproxy stopped" in b for b in cut.streams] == [True] * OPEN_STREAMS, cut.streams[0][-300:]
    assert [r["status"] for r in cut.rows] == ["error"] * OPEN_STREAMS, cut.rows
    assert all("memproxy stopped" in (r["error"] or "") for r in cut.rows), cut.rows
