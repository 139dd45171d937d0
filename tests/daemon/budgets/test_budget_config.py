"""`budgets:` in config.yaml: what loads, and bad limits refused with the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import load_settings
from daemon.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(config_file=path, env={"MEMPROXY_HOME": str(tmp_path)})


def test_budgets_load_with_defaults_and_the_webhook_is_a_secret(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "budgets:\n"
        "  default: {daily: 5}\n"
        "  projects:\n"
        "    shop: {daily: 5, monthly: 60, models: {gpt-4o: {daily: 1}}}\n"
        "  alert_webhook: https://hooks.example/T000/B000/XXXXSECRET\n",
    )
    budgets = settings.budgets  # type: ignore[attr-defined]
    assert budgets.projects["shop"].monthly == 60 and budgets.projects["shop"].models["gpt-4o"].daily == 1
    assert budgets.thresholds == [50, 80, 100]
    assert "XXXXSECRET" not in str(settings.masked_dict())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "value", "reason"),
    [
        ("    shop: {daily: -1}", "-1", "greater than or equal to 0"),
        ("    shop: {daily: five}", "five", "valid number"),
        ("    shop: {dayly: 5}", "dayly", "Extra inputs are not permitted"),
        ("    'not a name!': {daily: 5}", "not a name!", "should match pattern"),
    ],
)
def test_a_bad_limit_is_refused_with_file_and_line(tmp_path: Path, line: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"model_list: []\nbudgets:\n  projects:\n{line}\n")
    text = str(caught.value)
    assert f"{tmp_path / 'config.yaml'}:4" in text and reason in text, text


def test_thresholds_are_percentages(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "budgets:\n  thresholds: [0, 80]\n")
    assert "config.yaml:2: budgets.thresholds" in str(caught.value)


def test_a_damaged_budgets_file_is_named(memproxy_home: Path) -> None:
    from daemon.budgets.store import load_overrides
    from tests.support.serving import home_paths

    paths = home_paths()
    (paths.state_dir / "budgets.json").write_text('{"projects": {"shop": {"daily": -3}}}')
    with pytest.raises(ConfigError) as caught:
        load_overrides(paths)
    assert "budgets.json: shop.daily" in str(caught.value) and "memproxy budget set" in str(caught.value)
