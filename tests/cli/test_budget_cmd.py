"""`memproxy budget`, `budget set`, `budget clear` as a user runs them; the percent in `status` and `ports`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.usage.record import UsageRecord, iso_utc
from memproxy_cli.main import app
from tests.support.databank import write_records
from tests.support.light import run_counting_heavy
from tests.support.ports import free_range

runner = CliRunner()


def _registered(home: Path, *projects: str) -> None:
    low, high = free_range()
    (home / "config.yaml").write_text(f"interceptor:\n  port_range: [{low}, {high}]\n")
    for project in projects:
        assert runner.invoke(app, ["ports", "assign", project]).exit_code == 0


def test_set_refuses_an_unknown_project_and_bad_amounts_then_creates_it_when_asked(memproxy_home: Path) -> None:
    _registered(memproxy_home)
    unknown = runner.invoke(app, ["budget", "set", "shop", "--daily", "5"])
    assert unknown.exit_code == 1
    assert "no project shop in the registry" in unknown.output and "--create" in unknown.output
    negative = runner.invoke(app, ["budget", "set", "shop", "--daily", "-1", "--create"])
    assert negative.exit_code == 2 and "--daily" in negative.output
    words = runner.invoke(app, ["budget", "set", "shop", "--daily", "five", "--create"])
    assert words.exit_code == 2 and "--daily" in words.output
    bad_name = runner.invoke(app, ["budget", "set", "../etc", "--daily", "5"])
    assert bad_name.exit_code == 1 and "invalid project name" in bad_name.output
    created = runner.invoke(app, ["budget", "set", "shop", "--daily", "5", "--create"])
    assert created.exit_code == 0, created.output
    assert "registered shop" in created.output and "memproxy is not running" in created.output
    assert json.loads((memproxy_home / "budgets.json").read_text())["projects"]["shop"] == {"daily": 5.0}


def test_budget_json_status_and_ports_agree_with_the_databank(memproxy_home: Path) -> None:
    _registered(memproxy_home, "shop", "other")
    now = datetime.now(UTC)
    write_records(
        memproxy_home / "memproxy.db",
        UsageRecord(project="shop", model="gpt-4o", cost_usd=1.25, started_at=iso_utc(now)),
        UsageRecord(project="shop", model="claude-x", cost_usd=0.5, started_at=iso_utc(now)),
        UsageRecord(project="shop", model="gpt-4o", cost_usd=9.0, started_at=iso_utc(now - timedelta(days=40))),
        UsageRecord(project="other", model="gpt-4o", cost_usd=3.0, started_at=iso_utc(now)),
    )
    assert runner.invoke(app, ["budget", "set", "shop", "--daily", "5", "--monthly", "60"]).exit_code == 0
    assert runner.invoke(app, ["budget", "set", "shop", "--model", "gpt-4o", "--daily", "2.5"]).exit_code == 0

    rows = json.loads(runner.invoke(app, ["budget", "--json"]).output)
    by = {(r["period"], r["model"]): r for r in rows}
    assert {r["project"] for r in rows} == {"shop"}  # other has no budget
    assert by[("daily", None)]["spent_usd"] == 1.75 and by[("daily", None)]["percent"] == 35.0
    assert by[("monthly", None)]["limit_usd"] == 60.0
    assert by[("daily", "gpt-4o")]["spent_usd"] == 1.25 and by[("daily", "gpt-4o")]["percent"] == 50.0
    assert datetime.fromisoformat(by[("daily", None)]["resets_at"]) > now

    status = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert [(r["project"], r["percent"]) for r in status["budgets"]] == [(r["project"], r["percent"]) for r in rows]
    ports = {r["name"]: r for r in json.loads(runner.invoke(app, ["ports", "--json"]).output)}
    assert ports["shop"]["budget_percent"] == 50.0 and ports["other"]["budget_percent"] is None
    table = runner.invoke(app, ["budget"]).output
    assert "shop" in table and "35%" in table and "gpt-4o" in table

    assert runner.invoke(app, ["budget", "clear", "shop", "--model", "gpt-4o"]).exit_code == 0
    assert [r["model"] for r in json.loads(runner.invoke(app, ["budget", "--json"]).output)] == [None, None]
    again = runner.invoke(app, ["budget", "clear", "other"])
    assert again.exit_code == 1 and "no limits set" in again.output


@pytest.mark.parametrize(
    "argv", [["budget"], ["budget", "--json"], ["budget", "set", "shop", "--daily", "1"], ["status"], ["ports"]]
)
def test_budget_and_the_percent_in_status_and_ports_stay_light(memproxy_home: Path, argv: list[str]) -> None:
    _registered(memproxy_home, "shop")
    (memproxy_home / "budgets.json").write_text('{"projects": {"shop": {"daily": 5}}}')
    heavy, printed = run_counting_heavy(argv, {**os.environ, "MEMPROXY_HOME": str(memproxy_home)})
    assert heavy == [], printed
    assert "shop" in printed, printed


def test_a_damaged_budgets_file_is_reported_by_budget_and_status(memproxy_home: Path) -> None:
    _registered(memproxy_home, "shop")
    (memproxy_home / "budgets.json").write_text('{"projects": {"shop": {"daily": "lots"}}}')
    listed = runner.invoke(app, ["budget"])
    assert listed.exit_code == 1 and "budgets.json: shop.daily" in listed.output
    status = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert status["config_error"] is None and status["models"]
    assert "budgets.json: shop.daily" in status["budgets_error"]
