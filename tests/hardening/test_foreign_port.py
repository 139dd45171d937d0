"""A project port another program holds is not reported as listening (issue 16, item 7), against the
real daemon: the project's port is taken while memproxy is down, then `memproxy up` starts again.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Someone else's server: it answers anything with 200."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def squatted(upstream: ObservingUpstream, tmp_path: Path) -> Iterator[tuple[Daemon, int, int]]:
    daemon = start_daemon(tmp_path / "home", config_text(upstream.url))
    mine, taken = assigned_port(daemon, "mine"), assigned_port(daemon, "squat")
    assert daemon.down().returncode == 0
    impostor = http.server.ThreadingHTTPServer(("127.0.0.1", taken), _Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    try:
        yield daemon, mine, taken
    finally:
        daemon.down()
        impostor.shutdown()
        impostor.server_close()


@pytest.mark.regression(reason="BUG: up, ports, status and doctor said `listening` for a port another program held")
def test_a_project_port_another_program_holds_is_not_reported_as_listening(squatted: tuple[Daemon, int, int]) -> None:
    daemon, _, _ = squatted
    up = daemon.up()
    assert up.returncode == 0, up.stdout + up.stderr
    said = {line.split(":", 1)[0].split()[-1]: line for line in up.stdout.splitlines() if "project " in line}
    ports = {p["name"]: p["listening"] for p in json.loads(daemon.cli("ports", "--json").stdout)}
    status = {p["name"]: p["listening"] for p in daemon.status()["projects"]}
    doctor = {c["name"]: c for c in json.loads(daemon.cli("doctor", "--json").stdout)}
    figure(
        "test_a_project_port_another_program_holds_is_not_reported_as_listening",
        up=said["squat"].strip(),
        ports=ports,
        status=status,
        doctor=doctor["project squat"],
    )
    assert "(not listening)" in said["squat"] and "(listening)" in said["mine"]
    assert ports == {"mine": True, "squat": False}
    assert status == {"mine": True, "squat": False}
    assert doctor["project mine"]["ok"] and not doctor["project squat"]["ok"]
    assert "held by" in doctor["project squat"]["detail"], doctor["project squat"]
