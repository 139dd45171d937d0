"""`memproxy status`: today's and this month's cost per project at a glance; a broken config said as such."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import UsageRecord, iso_utc
from memproxy_cli.main import app
from memproxy_cli.timespec import parse_timespec
from tests.support.databank import write_records

runner = CliRunner()


def test_status_shows_month_to_date_cost_per_project() -> None:
    now = datetime.now(UTC)
    month_start = parse_timespec("this-month").astimezone(UTC)
    records = [
        UsageRecord(id="t1", started_at=iso_utc(now), project="shop", cost_usd=0.25),
        UsageRecord(id="t2", started_at=iso_utc(now), project="blog", cost_usd=0.5),
        # the month's first moment counts; the moment before is last month's
        UsageRecord(id="m1", started_at=iso_utc(month_start), project="shop", cost_usd=1.0),
        UsageRecord(id="old", started_at=iso_utc(month_start - timedelta(seconds=1)), project="shop", cost_usd=100.0),
    ]
    write_records(resolve_paths().db_file, *records)
    report = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    month = {row["project"]: row["cost_usd"] for row in report["month"]["by_project"]}
    assert month == {"shop": 1.25, "blog": 0.5}
    assert report["month"]["cost_usd"] == 1.75 and report["month"]["requests"] == 3
    text = runner.invoke(app, ["status"], env={"COLUMNS": "100"}).stdout
    assert "this month $1.7500 (3 requests)" in text
    assert any(line.split()[:1] == ["shop"] and "this month $1.2500" in line for line in text.splitlines()), text


def test_status_with_a_broken_config_says_the_models_are_unknown(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text("model_list: [\n")
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "models:   none" not in result.stdout and "the config cannot be read" in result.stdout
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["config_error"]
