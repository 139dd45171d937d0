"""Real coding tools (Claude Code, Codex, opencode) from npm, installed once into a cache; skipped without npm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def npm_tool(package: str, cache: Path, name: str) -> Path:
    """The `name` binary of npm `package`, installed once into `cache` (reused across runs).

    Skips the test, with the reason, when npm or the install is not available.
    """
    binary = cache / "node_modules" / ".bin" / name
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not installed: cannot install {package}")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), package],
                capture_output=True,
                text=True,
                timeout=180,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install {package} took more than 3 minutes")
        if result.returncode != 0 or not binary.exists():
            pytest.skip(f"npm install {package} failed: {result.stderr[-500:]}")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    if version.returncode != 0:
        pytest.skip(f"{name} --version failed: {version.stderr[-500:]}")
    return binary
