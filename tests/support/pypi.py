"""Real tools from PyPI (aider, llm), each installed once into a venv of its own; skipped when that fails.

A tool's own venv keeps its pins away from the project's (aider-chat pins litellm and openai).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INSTALL_TIMEOUT_S = 420
# venv -> its tool, or why there is none: a failed install is tried once per session, not once per cell
_INSTALLED: dict[Path, Path | str] = {}


def pypi_tool(package: str, venv: Path, name: str) -> Path:
    """The `name` script of PyPI `package`, installed once into the venv `venv` (reused across runs).

    Skips the test, with the reason, when the venv or the install cannot be made in time.
    """
    if venv not in _INSTALLED:
        try:
            _INSTALLED[venv] = _install(package, venv, name)
        except pytest.skip.Exception as skipped:
            _INSTALLED[venv] = str(skipped.msg)
    found = _INSTALLED[venv]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _install(package: str, venv: Path, name: str) -> Path:
    binary = venv / "bin" / name
    if not binary.exists():
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
        try:
            made = subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=120
            )
            if made.returncode != 0:
                pytest.skip(f"cannot make a venv for {package}: {made.stderr[-500:]}")
            result = subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", package],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"pip install {package} took more than {INSTALL_TIMEOUT_S} s")
        if result.returncode != 0 or not binary.exists():
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"pip install {package} failed: {result.stderr[-500:]}")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=120)
    if version.returncode != 0:
        pytest.skip(f"{name} --version failed: {version.stderr[-500:]}")
    return binary
