"""`memproxy intercept -- CMD` that had to start the daemon says, once CMD ends, that it keeps running."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import MEMPROXY, Daemon, clean_env
from tests.support.ports import free_port, free_range

pytestmark = pytest.mark.e2e


def test_intercept_says_the_daemon_it_started_keeps_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    low, high = free_range()
    config = f"general_settings:\n  port: {port}\ninterceptor:\n  port_range: [{low}, {high}]\n"
    (home / "config.yaml").write_text(config)
    daemon = Daemon(home=home, port=port)
    argv = [str(MEMPROXY), "intercept", "-p", "shop", "--", "true"]
    try:
        first = subprocess.run(argv, env=clean_env(home), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert f"keeps running at http://127.0.0.1:{port}" in first.stderr
        assert daemon.status()["running"]
        second = subprocess.run(argv, env=clean_env(home), capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "keeps running" not in second.stderr  # it was running already
    finally:
        daemon.down()
