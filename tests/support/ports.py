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
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    """A port range whose first port is free right now (choose_port skips any taken later)."""
    low = min(free_port(), 65535 - size)
    return low, low + size - 1


def wait_port(port: int, up: bool = True, timeout: float = 10) -> bool:
    """True once the port is (or, with up=False, is no longer) accepting connections."""
    return wait_for(lambda: listening(port) == up, timeout)
