"""`memproxy logs --daemon`: the daemon log's tail, and with --follow the lines as they come (across rotations).

Standard library only (the CLI never imports LiteLLM): lines are printed as they are, without markup.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import typer


def show_daemon_log(log_file: Path, count: int, *, follow: bool, poll_interval: float = 1.0) -> None:
    """Print the last `count` lines of `log_file`; with `follow`, keep printing until Ctrl-C."""
    from daemon.observe.logfile import tail

    lines = tail(log_file, count)
    if not lines and not follow:
        typer.echo(f"no daemon log yet ({log_file})", err=True)
        return
    for line in lines:
        typer.echo(line)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how following ends
            _follow(log_file, poll_interval)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_dev


def _follow(log_file: Path, poll_interval: float) -> None:
    """Print what is appended; when the daemon rotates the file, go on from the start of the new one."""
    ident = _identity(log_file)
    offset = log_file.stat().st_size if ident else 0
    pending = b""
    while True:
        time.sleep(poll_interval)
        now = _identity(log_file)
        if now is None:
            continue
        if now != ident:  # rotated (or recreated): the old file's tail was read before the switch
            ident, offset = now, 0
        with open(log_file, "rb") as f:
            f.seek(offset)
            chunk = f.read()
            offset = f.tell()
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            typer.echo(line.decode(errors="replace"))
