"""Binding listening sockets the safe way (bind and hold, never check-then-bind) and naming who holds a port."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from daemon.errors import PortInUse


def bind_listener(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket; PortInUse naming the holder when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio (without uvloop) sets TCP_NODELAY on accepted connections only when
    # the listening socket names TCP; otherwise keep-alive answers wait ~40 ms on Nagle + delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            holder = who_holds(port)
            raise PortInUse(f"port {port} on {host} is already in use by {holder}") from exc
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def free_port_after(host: str, port: int, tries: int = 50) -> int | None:
    """The first port after `port` that can be bound now (a suggestion for `--port`), or None."""
    return next((p for p in range(port + 1, min(port + 1 + tries, 65536)) if port_is_free(host, p)), None)


def port_is_free(host: str, port: int) -> bool:
    try:
        bind_listener(host, port).close()
    except PortInUse:
        return False
    return True


def who_holds(port: int) -> str:
    """'pid 123 (python -m ...)' for the process listening on `port`, as far as /proc tells; else a vague phrase."""
    inodes = _listening_inodes(port)
    if not inodes:
        return "another program"
    proc = Path("/proc")
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"pid {pid_dir.name} ({cmd[:120] or 'unknown command'})"
        except OSError:
            continue
    return "another program (not visible to this user)"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def held_by(port: int, pid: int) -> bool | None:
    """Whether process `pid` holds the socket listening on `port`; None where /proc cannot tell."""
    if not Path("/proc/net/tcp").exists():
        return None
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def daemon_listens(port: int, daemon_pid: int | None) -> bool:
    """Whether the daemon `daemon_pid` (None: not running) is what listens on `port`.

    A port something else holds is not listening for us: a tool pointed at it would talk to another
    program (someone else's daemon). Where /proc cannot tell (not Linux), accepting connections is
    the best available answer."""
    if daemon_pid is None:
        return False
    held = held_by(port, daemon_pid)
    return port_accepts(port) if held is None else held


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
