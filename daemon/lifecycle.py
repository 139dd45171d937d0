"""Starting, finding and stopping the background daemon: a pid file plus a health probe.

"Running" means the pid in the pid file is alive *and* `/health` answers (uvicorn's "alive and
answering"). A pid file whose process is gone is stale and is removed by whoever finds it.
`start_daemon` holds a lock file while it checks and spawns, so ten concurrent `up`s start one daemon.
Light imports only: `memproxy status` must stay fast (settings and filelock load inside `start_daemon`).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config.paths import Paths
from daemon.errors import DaemonStartError, PortInUse
from daemon.sockets import free_port_after, port_is_free, who_holds

# How long `up` waits for the lock another `up` holds, and then for the daemon to answer /health.
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class DaemonInfo:
    """What the running daemon wrote about itself at start."""

    pid: int
    host: str
    port: int
    started_at: float
    config_path: str | None
    version: str
    # what the daemon validated, for `status` while the file is unchanged: {"config_stamp": `config_stamp`
    # of the file it read (None: no file), "models": [names], "budgets": whether the config sets any}
    validated: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def config_stamp(path: Path | None) -> list[int] | None:
    """[mtime_ns, ctime_ns, size, inode] of a config file, None when there is none: how `status` tells it
    unchanged (an editor that replaces the file changes the inode; a copy keeping the mtime, the ctime)."""
    try:
        found = path.stat() if path is not None else None
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino] if found is not None else None


def unchanged_validation(info: DaemonInfo, paths: Paths) -> dict[str, Any] | None:
    """What the running daemon validated (`DaemonInfo.validated`), if the config file is the one it read,
    unchanged since, and neither it nor `budgets.json` sets a budget (those need the models); else None.
    `status` and `ports` then read no config themselves (no pydantic: ~100 ms of a command)."""
    validated = info.validated
    path = paths.config_file if paths.config_file.exists() else None
    if not validated or validated.get("budgets") is not False or info.config_path != (str(path) if path else None):
        return None
    if validated.get("config_stamp") != config_stamp(path) or not isinstance(validated.get("models"), list):
        return None
    return None if paths.budgets_file.exists() else validated


def write_daemon_info(paths: Paths, info: DaemonInfo) -> None:
    """Called by the daemon once its sockets are bound: pid file and state file, each written atomically."""
    paths.ensure()
    _atomic_write(paths.state_file, json.dumps(info.__dict__))
    _atomic_write(paths.pid_file, f"{info.pid}\n")


def clear_daemon_info(paths: Paths, pid: int | None = None) -> None:
    """Remove the pid and state files (only if they still name `pid`, when given)."""
    if pid is not None and read_pid(paths) not in (pid, None):
        return
    for path in (paths.pid_file, paths.state_file):
        path.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child (our own just-died spawn) still answers kill(0)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def is_memproxy_daemon(pid: int) -> bool:
    """Whether `pid` runs memproxy's daemon (a recycled pid may belong to anything after a reboot)."""
    if pid == os.getpid():  # the daemon run in this very process (`up --foreground`, tests)
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc (macOS): trust the pid file plus the health probe
    return b"daemon.server" in cmdline or b"memproxy" in cmdline


def read_daemon_info(paths: Paths) -> DaemonInfo | None:
    """The running daemon's info, or None (cleaning a stale pid file on the way)."""
    pid = read_pid(paths)
    if pid is None:
        return None
    if not pid_alive(pid) or not is_memproxy_daemon(pid):
        clear_daemon_info(paths, pid)
        return None
    try:
        data = json.loads(paths.state_file.read_text())
        return DaemonInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def probe_health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """GET /health; the JSON body if the gateway answers (healthy, or degraded: serving, rows waiting), else None."""
    host_port = url.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    try:
        conn.request("GET", "/health", headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        if response.status != 200:
            return None
        data: dict[str, Any] = json.loads(response.read())
        return data if data.get("status") in ("healthy", "degraded") else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def running_daemon(paths: Paths) -> tuple[DaemonInfo, dict[str, Any]] | None:
    """(info, /health body) of the daemon that is alive and answering, or None."""
    info = read_daemon_info(paths)
    if info is None:
        return None
    health = probe_health(info.url)
    return (info, health) if health is not None else None


def spawn_daemon(paths: Paths, args: list[str]) -> subprocess.Popen[bytes]:
    """Start `python -m daemon.server ARGS` detached. Its raw output goes to `daemon.out` (fresh each start),
    never to the daemon log: the daemon rotates that itself, and a second writer would defeat rotation."""
    paths.ensure()
    fd = os.open(paths.out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.chmod(paths.out_file, 0o600)
    log = os.fdopen(fd, "wb")  # handed to the child, closed right after
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "daemon.server", *args, "--background"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def wait_until_healthy(
    paths: Paths, proc: subprocess.Popen[bytes], timeout: float
) -> tuple[DaemonInfo, dict[str, Any]]:
    """Wait for the spawned daemon to answer /health; DaemonStartError with the log's tail if it dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonStartError(f"the daemon exited during start (code {proc.returncode}):\n{log_tail(paths)}")
        info = read_daemon_info(paths)
        if info is not None and info.pid == proc.pid:
            health = probe_health(info.url, timeout=0.5)
            if health is not None:
                return info, health
        time.sleep(0.05)
    proc.terminate()
    raise DaemonStartError(f"the daemon did not become healthy within {timeout:.0f} s:\n{log_tail(paths)}")


def server_args(config: str | Path | None, host: str | None, port: int | None) -> list[str]:
    """The `python -m daemon.server` flags for these overrides (the config path made absolute)."""
    args: list[str] = []
    if config:
        args += ["--config", str(Path(config).expanduser().resolve())]
    if host:
        args += ["--host", host]
    if port:
        args += ["--port", str(port)]
    return args


def start_daemon(
    config: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    waiting: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> tuple[DaemonInfo, bool]:
    """Start the daemon unless one runs; (its info, whether this call started it). Raises MemproxyError.

    `waiting()` wraps the wait for a freshly spawned daemon to answer (the CLI's spinner).
    """
    from filelock import FileLock

    from daemon.config.settings import load_settings
    from daemon.usage.integrity import refuse_if_damaged

    settings = load_settings(config_file=config, host=host, port=port)  # a broken config is refused here
    paths = settings.paths.ensure()
    general = settings.general_settings
    # One start at a time checks and spawns: ten concurrent `up`s start one daemon.
    with FileLock(str(paths.start_lock_file), timeout=START_TIMEOUT_S):
        found = running_daemon(paths)
        if found is not None:
            return found[0], False
        stale = read_daemon_info(paths)
        if stale is not None:
            raise DaemonStartError(
                f"a memproxy daemon (pid {stale.pid}) is running but not answering on {stale.url}; "
                "run `memproxy down` first"
            )
        # A damaged databank would take no row: refuse before spawning, in one sentence, not a traceback.
        refuse_if_damaged(paths.db_file)
        if not port_is_free(general.host, general.port):
            raise PortInUse(_port_taken(general.host, general.port))
        proc = spawn_daemon(paths, server_args(config, host, port))
        with waiting():
            info, _health = wait_until_healthy(paths, proc, START_TIMEOUT_S)
        return info, True


def _port_taken(host: str, port: int) -> str:
    """Who holds the port `up` wants, and what to do about it (another home's memproxy, most often)."""
    said = f"port {port} on {host} is already in use by {who_holds(port)}"
    free = free_port_after(host, port)
    if free is None:
        return f"{said}; stop it, or start memproxy with `memproxy up --port <a free port>`"
    return f"{said}; stop it, or start memproxy on another port: `memproxy up --port {free}`"


def ensure_running(config: str | Path | None = None) -> DaemonInfo:
    """The running daemon's info, starting it first if needed (`intercept` with a command)."""
    return start_daemon(config)[0]


def log_tail(paths: Paths, lines: int = 15) -> str:
    """The daemon log's last lines, then what the daemon printed before its logging was set up."""
    from daemon.observe.logfile import tail

    logged = tail(paths.log_file, lines)
    try:
        printed = paths.out_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        printed = []
    found = logged + printed
    return "\n".join(found) if found else "(no daemon log)"


def stop_daemon(
    paths: Paths, timeout: float = 10.0, *, waiting: Callable[[], AbstractContextManager[object]] = nullcontext
) -> int | None:
    """SIGTERM (graceful drain), then SIGINT to cut remaining streams, then SIGKILL. The stopped pid, or None.

    An `up` that is starting a daemon holds the start lock: this waits for it (inside `waiting()`)
    and then stops what it started, rather than finding no pid file yet and leaving it to come up.
    """
    if paths.start_lock_file.parent.is_dir():
        from filelock import FileLock, Timeout

        lock = FileLock(str(paths.start_lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            with waiting():
                try:
                    lock.acquire(timeout=START_TIMEOUT_S)
                except Timeout:
                    raise DaemonStartError(
                        f"a memproxy daemon has been starting for {START_TIMEOUT_S:.0f} s and holds "
                        f"{paths.start_lock_file}; run `memproxy down` again once it is up"
                    ) from None
        try:
            return _stop(paths, timeout)
        finally:
            lock.release()
    return _stop(paths, timeout)


def _stop(paths: Paths, timeout: float) -> int | None:
    pid = read_pid(paths)
    if pid is None:
        return None
    if not pid_alive(pid) or not is_memproxy_daemon(pid):
        clear_daemon_info(paths, pid)  # stale: never signal a process that is not ours
        return None
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGINT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_exit(pid, wait):
            break
    clear_daemon_info(paths, pid)
    return pid


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)
