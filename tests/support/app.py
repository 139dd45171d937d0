"""The gateway app in this process: `create_app(settings)` under a real uvicorn server on a free port.

Faster than the daemon harness and able to look inside (the writer, the settings); `Served.rows`
reads the databank the way `memproxy logs` does.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config.settings import load_settings
from daemon.gateway.state import Gateway
from daemon.usage.query import recent


@dataclass
class Served:
    gateway: Gateway
    app: Any
    url: str
    home: Path

    def rows(self, project: str) -> list[dict[str, Any]]:
        assert self.gateway.writer.flush()
        return [r for r in recent(self.home / "memproxy.db", None) if r["project"] == project]

    def wait_final(self, project: str, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(project)
            if (rows and all(r["status"] != "in_flight" for r in rows)) or time.monotonic() > deadline:
                return rows
            time.sleep(0.02)


def serve_gateway(home: Path, config_text: str) -> Iterator[Served]:
    """`create_app(settings)` from `config_text` under a real uvicorn server on a free port (a generator:
    `yield from` it in a fixture)."""
    import uvicorn  # imported late, as the daemon does: LiteLLM must see the test's environment first

    from daemon.app import create_app, start_gateway

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(config_text)
    settings = load_settings(env={"MEMPROXY_HOME": str(home)})
    gateway = start_gateway(settings)
    app = create_app(settings, gateway)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Served(gateway, app, f"http://127.0.0.1:{port}", home)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        gateway.writer.close()
