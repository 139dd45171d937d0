"""What the settings tests (tests/daemon/config/) share: a config file written in the test's folder,
loaded with `load_settings`, and the problems a bad one is refused with."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import Settings, load_settings
from daemon.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, env: dict[str, str], text: str, **flags: object) -> Settings:
    return load_settings(config_file=write(tmp_path, text), env=env, **flags)  # type: ignore[arg-type]


def problems_of(tmp_path: Path, env: dict[str, str], text: str) -> list[str]:
    """The problems `load_settings` refuses `text` with (it must refuse it)."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env, text)
    return info.value.problems
