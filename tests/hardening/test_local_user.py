"""What another user on the same machine can do to memproxy's home (issue 16, items 2 and 3), against
the real daemon started with `memproxy up`: read what it writes, or prepare the home it will trust.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import USER, config_text, figure
from tests.support.ports import free_port
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another user needs root")


def _modes(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in sorted(home.rglob("*")):
        found[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _refused(home: Path, upstream: ObservingUpstream) -> tuple[Daemon, str]:
    """`memproxy up` in a prepared `home`: it must exit 1, listen nowhere and call no upstream."""
    daemon = Daemon(home=home, port=free_port())
    result = daemon.up()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{daemon.url}/health", timeout=1)
    assert upstream.requests == [], "the prepared config was used"
    return daemon, " ".join(result.stderr.split())


@pytest.mark.regression(reason="BUG: folders 0755 and memproxy.db*, ports.json, daemon.json 0644")
def test_every_file_in_the_home_is_readable_by_its_owner_alone(upstream: ObservingUpstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    (home / "memproxy.db").touch(mode=0o644)  # a databank created before this release
    os.chmod(home / "memproxy.db", 0o644)
    daemon = start_daemon(home, config_text(upstream.url, memory=True))
    try:
        assert daemon.cli("ports", "assign", "perm").returncode == 0
        answer = httpx.post(
            f"{daemon.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": USER, "max_tokens": 5},
            headers={"x-memproxy-project": "perm"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        daemon.project_rows("perm")
        modes = _modes(home)
    finally:
        daemon.down()
    open_to_others = {name: f"{mode:o}" for name, mode in modes.items() if mode & 0o077 and name != "config.yaml"}
    figure(
        "test_every_file_in_the_home_is_readable_by_its_owner_alone",
        entries=len(modes),
        open_to_others=len(open_to_others),
        names=",".join(sorted(modes)),
    )
    assert {"memproxy.db", "memproxy.db-wal", "ports.json", "daemon.log", "memory.db"} <= set(modes)
    assert open_to_others == {}
    assert modes["."] == 0o700


@pytest.mark.regression(reason="BUG: a 0777 home with someone else's config.yaml was used")
def test_a_home_writable_by_others_is_refused(upstream: ObservingUpstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(config_text(upstream.url))
    os.chmod(home, 0o777)
    _, message = _refused(home, upstream)
    figure("test_a_home_writable_by_others_is_refused", message=message[:160])
    assert "writable by other users" in message and str(home) in message


@pytest.mark.regression(reason="BUG: a config.yaml another user may write was used")
def test_a_config_writable_by_others_is_refused(upstream: ObservingUpstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = home / "config.yaml"
    config.write_text(config_text(upstream.url))
    os.chmod(config, 0o666)
    _, message = _refused(home, upstream)
    assert "the config file" in message and "writable by other users" in message


@as_root
@pytest.mark.regression(reason="BUG: a home and config owned by another user were trusted")
@pytest.mark.parametrize("owned", ["home", "config"])
def test_a_home_or_config_owned_by_another_user_is_refused(
    upstream: ObservingUpstream, tmp_path: Path, owned: str
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = home / "config.yaml"
    config.write_text(config_text(upstream.url))
    os.chown(home if owned == "home" else config, NOBODY, NOBODY)
    _, message = _refused(home, upstream)
    figure("test_a_home_or_config_owned_by_another_user_is_refused", owned=owned, message=message[:160])
    assert f"owned by uid {NOBODY}" in message


@pytest.mark.regression(reason="BUG: a symlinked daemon.log was followed (memproxy appended to its target)")
@pytest.mark.parametrize("name", ["daemon.log", "memproxy.db", "memproxy.db-wal", "daemon.json", "ports.json"])
def test_a_symlink_planted_in_the_home_is_never_followed(
    upstream: ObservingUpstream, tmp_path: Path, name: str
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.yaml").write_text(config_text(upstream.url))
    target = tmp_path / "victim-file"
    target.write_text("precious\n")
    (home / name).symlink_to(target)
    _, message = _refused(home, upstream)
    assert "symbolic link" in message and name in message
    assert target.read_text() == "precious\n"
