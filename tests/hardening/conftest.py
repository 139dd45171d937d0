"""Shared parts of the hardening matrix: distinctive keys, config builder, an upstream that sees hang-ups.

Every test here drives the real daemon (`memproxy up`) or a real uvicorn server, the fake upstream is a
real server, SQLite is real. Tests print one `FIGURE` line each with what they measured
(`pytest tests/hardening -s | grep FIGURE`); docs/reliability.md holds those figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MEMPROXY, Daemon, clean_env, free_port
from tests.fake_upstream import FakeUpstream, Reply, _start

__all__ = ["MEMPROXY", "Daemon", "clean_env", "free_port"]

# Distinctive values: any of them found in a file, a log line or an answer is a leak.
OPENAI_KEY = "sk-hardening-CONFIGURED-openai-4f1e9a7c2b"
ANTHROPIC_KEY = "sk-ant-hardening-CONFIGURED-93d0b6e1aa"
CLIENT_KEY = "sk-hardening-CLIENTOWN-7d2c58aa01fe"
MASTER_KEY = "mk-hardening-MASTER-e0c4b9f3179d"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, CLIENT_KEY, MASTER_KEY)

USER = [{"role": "user", "content": "Say something short."}]
ROUTES = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5"}


def figure(test: str, **values: Any) -> None:
    """One line of measured figures, collected into docs/reliability.md (run with -s)."""
    shown = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"\nFIGURE {test}: {shown}", flush=True)


def config_text(
    upstream_url: str,
    *,
    master_key: str | None = None,
    num_retries: int = 0,
    timeout: float = 3,
    max_body_bytes: int | None = None,
    log_level: str | None = None,
    port_range: tuple[int, int] | None = None,
    memory: bool = False,
    fast_path: bool = True,
    body_timeout: float | None = None,
) -> str:
    """gpt-* → openai/gpt-* at <fake>/v1, claude-* → anthropic/claude-* at <fake> (keys in config),
    byok-* → openai at <fake>/v1 with no key (the client's own key is passed on)."""
    general = []
    if master_key:
        general.append(f"  master_key: {master_key}")
    if max_body_bytes:
        general.append(f"  max_body_bytes: {max_body_bytes}")
    if not fast_path:
        general.append("  fast_path: false")
    if body_timeout is not None:
        general.append(f"  body_timeout: {body_timeout}")
    text = "general_settings:\n" + "\n".join(general) + "\n" if general else ""
    text += f"""model_list:
  - model_name: "gpt-*"
    litellm_params:
      model: "openai/gpt-*"
      api_base: "{upstream_url}/v1"
      api_key: {OPENAI_KEY}
  - model_name: "claude-*"
    litellm_params:
      model: "anthropic/claude-*"
      api_base: "{upstream_url}"
      api_key: {ANTHROPIC_KEY}
  - model_name: "byok-*"
    litellm_params:
      model: "openai/byok-*"
      api_base: "{upstream_url}/v1"
router_settings:
  num_retries: {num_retries}
  timeout: {timeout}
context_retrieval:
  enabled: {str(memory).lower()}
"""
    if log_level:
        text += f"logging:\n  level: {log_level}\n"
    low, high = port_range or (free_port(), 0)
    text += f"interceptor:\n  port_range: [{low}, {high or low}]\n"
    return text


def launch(home: Path, config: str, port: int | None = None) -> Daemon:
    """`memproxy up` in `home` with `config`; fails the test with the log tail if it does not start."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(config)
    daemon = Daemon(home=home, port=port or free_port())
    result = daemon.up()
    if result.returncode != 0:
        daemon.down()
        pytest.fail(f"memproxy up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{daemon.log_tail()}")
    return daemon


def daemon_pid(daemon: Daemon) -> int:
    return int((daemon.home / "memproxy.pid").read_text().strip())


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def pid_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"


def db_rows(home: Path, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of the databank read straight from SQLite (in_flight ones too, which `logs` may hide)."""
    db = home / "memproxy.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM requests WHERE {where}", args)]
    finally:
        conn.close()


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy or `timeout` runs out; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def raw_http(port: int, request: bytes, *, half_close: bool = False, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes, the timeout runs out, or a full response arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    """Read one HTTP response (Content-Length or close-delimited), or what came before a timeout."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and len(body) >= int(value.strip() or 0):
                        return data
    except (TimeoutError, ConnectionResetError):
        return data


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data or raw text) for each SSE event in `raw`."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = None, None
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data = line[5:].strip().decode("utf-8", "replace")
        if data is None:
            continue
        try:
            events.append((name, json.loads(data)))
        except ValueError:
            events.append((name, data))
    return events


class ObservingUpstream(FakeUpstream):
    """The fake upstream, plus: when did a client close a connection whose answer was not finished yet,
    and a `truncate` fault (the stream ends cleanly, without its final events)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hangups: list[float] = []  # time.monotonic() of each early hang-up
        self.started: list[float] = []  # time.monotonic() each generating request arrived
        self.crashes = 0  # requests the fake itself failed on (it is a test double: it trusts its input)

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body_read = asyncio.Event()
        finished = False

        async def receive_body() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                body_read.set()
            return message

        async def send_watched(message: dict[str, Any]) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                self.hangups.append(time.monotonic())

        watcher = asyncio.ensure_future(watch())
        if scope["path"].rstrip("/").endswith(("/chat/completions", "/messages", "/responses")):
            self.started.append(time.monotonic())
        try:
            await super()._asgi(scope, receive_body, send_watched)
        except Exception as exc:
            if type(exc).__name__ != "_Disconnect":
                self.crashes += 1
            raise
        finally:
            if not watcher.done():
                await asyncio.sleep(0)  # let a disconnect that is already queued be seen
                watcher.cancel()

    async def _send_stream(self, send: Any, events: Any, plan: Any, dialect: Any) -> None:
        reply: Reply = plan.reply
        if reply.fault != "truncate":  # type: ignore[comparison-overlap]
            await super()._send_stream(send, events, plan, dialect)
            return
        await _start(send, 200, "text/event-stream; charset=utf-8", dialect, reply.headers)
        sent = 0
        for kind, data in events:
            if kind == "tail" or (kind == "content" and sent == reply.fault_after):
                break
            sent += kind == "content"
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def truncated_stream(after_chunks: int, then: Reply) -> Reply:
    """A stream that ends properly at the HTTP level after `after_chunks` chunks, with no final events."""
    from dataclasses import replace

    return replace(then, fault="truncate", fault_after=after_chunks)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ObservingUpstream]:
    fake = ObservingUpstream()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake(upstream: ObservingUpstream) -> Iterator[ObservingUpstream]:
    upstream.reset()
    upstream.hangups.clear()
    upstream.started.clear()
    upstream.chunks = None
    upstream.chunk_interval_ms = 0
    yield upstream
    upstream.reset()


def popen_cli(daemon: Daemon, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(MEMPROXY), *args],
        env=daemon.env,
        cwd=daemon.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_leftovers(home: Path) -> None:
    """Last-resort cleanup: SIGKILL the daemons of `home` (found by pid, never by name) a failed test left."""
    for pid in daemon_processes(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def daemon_processes(home: Path) -> list[int]:
    """Live `daemon.server` processes whose MEMPROXY_HOME is `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if (
            b"daemon.server" in cmdline
            and f"MEMPROXY_HOME={home}\0".encode() in environ
            and pid_running(int(entry.name))
        ):
            found.append(int(entry.name))
    return found


def integrity(home: Path) -> str:
    conn = sqlite3.connect(home / "memproxy.db", timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
