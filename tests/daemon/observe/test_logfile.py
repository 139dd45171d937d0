"""The daemon log: rotated by size through one handler, owner-only files, one line per LiteLLM record."""

from __future__ import annotations

import logging
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.observe.logfile import setup_daemon_logging, tail


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.stdout, sys.stderr)
    foreign = {name: logging.getLogger(name).handlers[:] for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")}
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], sys.stdout, sys.stderr = saved[0], saved[2], saved[3]
    root.setLevel(saved[1])
    for name, handlers in foreign.items():
        logging.getLogger(name).handlers[:] = handlers


def _lines(log_file: Path) -> list[str]:
    files = sorted(
        log_file.parent.glob(log_file.name + "*"),
        key=lambda p: -int(p.suffix[1:] or 0) if p.suffix[1:].isdigit() else 0,
    )
    return [line for f in files for line in f.read_text().splitlines()]


def test_the_log_rotates_by_size_and_loses_no_line(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "daemon.log"
    setup_daemon_logging("info", log_file, max_bytes=4096, backups=50, background=True)
    log = logging.getLogger("memproxy.test")
    for n in range(400):
        log.info("request %04d finished", n)
    print("a line printed by a library")  # stdout of a background daemon is a log line too
    logging.shutdown()
    rotated = sorted(tmp_path.glob("daemon.log.*"))
    assert len(rotated) >= 5, "the log never rotated"
    assert all(f.stat().st_size <= 4096 for f in [log_file, *rotated])
    numbers = [line.rsplit("request ", 1)[1][:4] for line in _lines(log_file) if "request " in line]
    assert numbers == [f"{n:04d}" for n in range(400)]  # every line, once, in order
    assert "a line printed by a library" in log_file.read_text()
    for f in [log_file, *rotated]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_only_the_configured_number_of_old_files_is_kept(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "daemon.log"
    setup_daemon_logging("info", log_file, max_bytes=1024, backups=2)
    for n in range(500):
        logging.getLogger("memproxy.test").info("line %d", n)
    assert sorted(p.name for p in tmp_path.glob("daemon.log*")) == ["daemon.log", "daemon.log.1", "daemon.log.2"]
    assert tail(log_file, 3)[-1].endswith("line 499")


def test_a_litellm_error_is_one_line_with_the_key_taken_out(
    tmp_path: Path, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    from daemon.gateway.llm import import_litellm
    from daemon.observe.logfile import drop_foreign_handlers

    log_file = tmp_path / "daemon.log"
    setup_daemon_logging("info", log_file, max_bytes=1 << 20, backups=2, secrets={"sk-configured-123"})
    import_litellm()
    drop_foreign_handlers()  # what the daemon does once LiteLLM is imported
    logging.getLogger("LiteLLM").error("litellm.acompletion(): upstream said no to sk-configured-123")
    logging.getLogger("LiteLLM Router").warning("retrying deployment for sk-configured-123")
    lines = [line for line in log_file.read_text().splitlines() if "upstream said no" in line or "retrying" in line]
    assert len(lines) == 2, lines
    assert all("sk-configured-123" not in line for line in lines)
    captured = capfd.readouterr()
    assert captured.err.count("upstream said no") == 1  # the foreground's stderr copy, not LiteLLM's own too


def test_a_traceback_is_redacted_and_litellms_are_one_line(tmp_path: Path, restore_logging: None) -> None:
    """The key is taken out of a traceback's text too (the filter redacted the message only; an
    exception quoting a request went to the file whole), and LiteLLM's error tracebacks for an
    upstream's fault (a stream cut, a stall: memproxy records those itself) are their last line."""
    log_file = tmp_path / "daemon.log"
    setup_daemon_logging("info", log_file, max_bytes=1 << 20, backups=2, secrets={"sk-configured-123"})
    for name in ("memproxy.llm", "LiteLLM"):
        try:
            raise ValueError("the upstream echoed Authorization: Bearer sk-configured-123")
        except ValueError:
            logging.getLogger(name).exception("%s: unexpected", name)
    written = log_file.read_text()
    assert "sk-configured-123" not in written, written
    ours, theirs = written.split("LiteLLM: unexpected")
    assert "Traceback (most recent call last)" in ours  # memproxy's own: a bug, kept whole
    # (LiteLLM, once imported, masks a bearer token itself: "REDACTED"; memproxy's filter "[redacted]")
    assert "Traceback" not in theirs and "ValueError: the upstream echoed Authorization:" in theirs
