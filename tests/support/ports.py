"""Loopback ports: a free one, a free range, and waiting for one to open or close.

Tests never use memproxy's default ports (8764 for the daemon, 8800-8899 for projects): a real
memproxy may be running there, as the README leaves a new user's machine.
"""

from __future__ import annotations

import random
import socket

from tests.support.polling import wait_for

RANGE_SIZE = 16


def free_port() -> int:
    """A loopback port nobody listens on right now, picked at random in 10000-19999: below the project
    ranges (`free_port_range`) and outside the ephemeral range. The OS's pick (bind to port 0) was an
    ephemeral port, which any client socket of the suite could take as its own between this call and
    the daemon binding it, a process start later (the daemon then found its port held)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, 20000)
        if port_free(port):
            return port
    raise RuntimeError("no free port found")


def port_free(port: int) -> bool:
    """True if 127.0.0.1:port can be bound now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_range(size: int = RANGE_SIZE) -> tuple[int, int]:
    """`size` consecutive free loopback ports, picked at random away from 8800 and the ephemeral range."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(20000, 30000 - size)
        if all(port_free(p) for p in range(low, low + size)):
            return low, low + size - 1
    raise RuntimeError("no free port range found")


def free_range(size: int = 40) -> tuple[int, int]:
    """A port range free right now, outside the ephemeral range: a test may name any of its ports. It
    was the OS's pick for one port and the 39 after it, ephemeral ports that any client's socket (the
    suite opens thousands) could hold a moment later ("port 38936 is held by another program")."""
    return free_port_range(size)


def wait_port(port: int, up: bool = True, timeout: float = 10) -> bool:
    """True once the port is (or, with up=False, is no longer) accepting connections."""
    return wait_for(lambda: listening(port) == up, timeout)
