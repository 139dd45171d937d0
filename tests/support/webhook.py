"""A webhook receiver on loopback: records each JSON POST; `hold()` makes it keep them waiting.

with WebhookRecorder() as hook:
    ...  # point budgets.alert_webhook at hook.url
    hook.wait(2)  # the bodies of the first two POSTs
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.polling import wait_for


class WebhookRecorder:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.holding = 0  # POSTs read and not answered yet (while held)
        self._release = threading.Event()
        self._release.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def hold(self) -> None:
        """Read each POST and answer none until `release()`: a hanging webhook."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def wait(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


def _handler(recorder: WebhookRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            recorder.holding += 1  # before it shows as received: whoever waited for it sees it held
            recorder.received.append(json.loads(body))
            recorder._release.wait(30)
            recorder.holding -= 1
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
