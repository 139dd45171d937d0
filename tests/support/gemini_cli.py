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
import tempfile
from functools import cache
from pathlib import Path

import pytest

from interceptor.tool_config import gemini_trusts
from interceptor.wrap import GEMINI_SETTINGS


@cache
def settings_path() -> str:
    """A path to memproxy's gemini settings that gemini-cli will read; skips the test when none can be made."""
    if gemini_trusts(GEMINI_SETTINGS):
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
        if gemini_trusts(copy):
            return str(copy)
    pytest.skip(f"no folder gemini-cli trusts for its settings file (it skips {GEMINI_SETTINGS})")
