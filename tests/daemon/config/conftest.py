"""Fixtures of the settings tests: an environment with nothing but the test's MEMPROXY_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def env(memproxy_home: Path) -> dict[str, str]:
    """An environment with nothing but MEMPROXY_HOME, so no test sees the real one."""
    return {"MEMPROXY_HOME": str(memproxy_home)}
