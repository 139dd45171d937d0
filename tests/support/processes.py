"""The daemon as a process: its pid, whether it runs, its memory, and a last-resort kill (by pid, never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from tests.support.daemon import Daemon


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
