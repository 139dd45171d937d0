"""Two CLI races (issue 16, item 12), through the real CLI and the real daemon: `memproxy down` issued
while an `up` is starting the daemon, and `memproxy ports assign X | head -1`, whose stdout closes
after the first line.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from daemon.lifecycle import pid_alive
from tests.support.daemon import MEMPROXY, Daemon, start_daemon
from tests.support.hardening import config_text, figure
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e


@pytest.mark.regression(reason="BUG: `down` during a starting `up` said 'not running', and the daemon came up after")
def test_down_while_up_is_starting_waits_for_it_and_stops_it(upstream: ObservingUpstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.yaml").write_text(config_text(upstream.url))
    daemon = Daemon(home=home, port=free_port())
    up = daemon.popen("up", "--port", str(daemon.port))
    try:
        # `up` spawns the daemon (writing daemon.out) while it holds the start lock, and holds it
        # until the daemon answers: `down` now comes in the middle of a start
        assert wait_for(lambda: (home / "daemon.out").exists() or up.poll() is not None, 60, 0.01)
        assert not (home / "memproxy.pid").exists(), "too late: the daemon was already up"
        started = time.monotonic()
        down = daemon.cli("down", "--timeout", "5")
        took = time.monotonic() - started
        up_out, up_err = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
        daemon.down()
    pids = [int(word) for word in down.stdout.replace(")", " ").split() if word.isdigit()]
    figure("test_down_while_up_is_starting", down_rc=down.returncode, down_s=took, down=down.stdout.strip())
    assert down.returncode == 0, down.stdout + down.stderr
    assert "memproxy stopped" in down.stdout, down.stdout
    assert up.returncode == 0, up_out + up_err
    assert pids and not pid_alive(pids[0])
    assert not (home / "memproxy.pid").exists()
    status = daemon.status()
    assert not status["running"], status


@pytest.mark.regression(reason="BUG: `ports assign X | head -1` registered X, but the daemon was never told")
def test_ports_assign_piped_into_head_still_makes_the_port_listen(upstream: ObservingUpstream, tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "home", config_text(upstream.url))
    try:
        piped = subprocess.run(
            f"'{MEMPROXY}' ports assign piped | head -1",
            shell=True,
            env=daemon.env,
            cwd=daemon.home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        (entry,) = [p for p in json.loads(daemon.cli("ports", "--json").stdout) if p["name"] == "piped"]
    finally:
        daemon.down()
    figure("test_ports_assign_piped_into_head", stdout=piped.stdout.strip(), stderr=len(piped.stderr), entry=entry)
    assert piped.stdout.startswith("piped → port"), piped.stdout
    assert piped.stderr == "", piped.stderr  # no traceback, no "Exception ignored"
    assert entry["listening"], entry


def _start_lock_held(home: Path) -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(str(home / "daemon.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def test_down_while_up_foreground_is_starting_waits_for_it_and_stops_it(
    upstream: ObservingUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.yaml").write_text(config_text(upstream.url))
    daemon = Daemon(home=home, port=free_port())
    up = daemon.popen("up", "--foreground", "--port", str(daemon.port))
    try:
        assert wait_for(lambda: _start_lock_held(home) or up.poll() is not None, 60, 0.01)
        assert up.poll() is None and not daemon.status()["running"], "too late: the daemon was already up"
        down = daemon.cli("down", "--timeout", "5")
        up.wait(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        daemon.down()
    figure("test_down_while_up_foreground_is_starting", down=down.stdout.strip(), up_rc=up.returncode)
    assert "memproxy stopped" in down.stdout, down.stdout + down.stderr
    assert up.returncode == 0
    assert not (home / "memproxy.pid").exists()
