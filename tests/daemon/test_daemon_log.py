"""The real daemon's log rotates while it serves, keeps every line, and `memproxy logs --daemon` shows it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.support.config import gateway_config
from tests.support.daemon import start_daemon
from tests.support.upstream.observing import ObservingUpstream
from tests.support.upstream.replies import text

REQUESTS = 30


def test_the_daemon_log_rotates_while_serving_and_loses_nothing(tmp_path: Path, fake: ObservingUpstream) -> None:
    config = gateway_config(fake.url, log_level="debug").replace(
        "logging:\n  level: debug\n", "logging:\n  level: debug\n  max_bytes: 1024\n  backups: 50\n"
    )
    assert "max_bytes: 1024" in config
    daemon = start_daemon(tmp_path / "home", config)
    try:
        for n in range(REQUESTS):
            fake.script(text(f"answer {n}"))
            r = httpx.post(
                f"{daemon.url}/v1/chat/completions",
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": f"hi {n}"}], "max_tokens": 5},
                headers={"x-memproxy-project": f"rot-{n:02d}"},
                timeout=20,
            )
            assert r.status_code == 200, r.text
        daemon.project_rows(f"rot-{REQUESTS - 1:02d}")
        shown = daemon.cli("logs", "--daemon", "-n", "5")
    finally:
        daemon.down()
    home = daemon.home
    files = [home / "daemon.log", *sorted(home.glob("daemon.log.*"), key=lambda p: int(p.suffix[1:]))]
    assert len(files) > 2, "the daemon log never rotated"
    every = [line for f in reversed(files) for line in f.read_text().splitlines()]
    for n in range(REQUESTS):  # one debug line per request, none lost to the rotation
        assert sum(f"project=rot-{n:02d} " in line for line in every) == 1, n
    assert all(f.stat().st_size <= 1024 for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in [*files, home / "daemon.out"])
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 5
    assert all(line in every for line in shown.stdout.splitlines())  # the tail, as the files hold it
