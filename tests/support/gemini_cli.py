"""What gemini-cli needs to start in a test: its settings file where gemini-cli accepts it.

gemini-cli skips a system defaults file when any folder above it is writable by group or others
("Parent directory '/tmp' is insecure"). memproxy ships the file inside its package, so a checkout
under /tmp (a CI clone, say) would have it skipped, and gemini-cli would refuse to start. Tests then
give gemini-cli a copy in a folder it trusts (the user may set `GEMINI_CLI_SYSTEM_DEFAULTS_PATH`
themselves: `intercept` keeps it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from functools import cache
from pathlib import Path

import pytest

from interceptor.wrap import GEMINI_SETTINGS


def _trusted(path: Path) -> bool:
    """Whether no folder above `path` is writable by group or others (gemini-cli's check)."""
    return not any(folder.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH) for folder in path.resolve().parents)


@cache
def settings_path() -> str:
    """A path to memproxy's gemini settings that gemini-cli will read; skips the test when none can be made."""
    if _trusted(GEMINI_SETTINGS):
        return str(GEMINI_SETTINGS)
    for root in (Path("/run"), Path("/var/lib"), Path.home().parent):
        try:
            folder = Path(tempfile.mkdtemp(prefix="memproxy-gemini-", dir=root))
        except OSError:
            continue
        os.chmod(folder, 0o700)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        copy = folder / GEMINI_SETTINGS.name
        shutil.copyfile(GEMINI_SETTINGS, copy)
        if _trusted(copy):
            return str(copy)
    pytest.skip(f"no folder gemini-cli trusts for its settings file (it skips {GEMINI_SETTINGS})")
