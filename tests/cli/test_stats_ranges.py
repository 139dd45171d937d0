"""What `stats --by day|week|month` covers when --since is not given, and the time ranges it takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import UsageRecord, iso_utc
from daemon.usage.writer import UsageWriter
from memproxy_cli.main import app

runner = CliRunner()


def _requests_days_ago(*days: int) -> None:
    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    now = datetime.now(UTC)
    for n in days:
        writer.submit(UsageRecord(id=f"d{n}", started_at=iso_utc(now - timedelta(days=n)), cost_usd=0.01))
    assert writer.close()


def _report(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["stats", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_by_month_covers_months_and_by_week_weeks() -> None:
    _requests_days_ago(0, 3, 20, 45, 100, 400)
    by_month = _report("--by", "month")
    assert by_month["total"]["requests"] == 5  # six months back, not seven days: all but the one 400 days ago
    assert len(by_month["rows"]) >= 4
    by_week = _report("--by", "week")
    assert by_week["total"]["requests"] == 4  # 8 weeks: 0, 3, 20 and 45 days ago
    by_project = _report()
    assert by_project["total"]["requests"] == 2  # still the last 7 days


def test_since_takes_months_and_compound_durations() -> None:
    _requests_days_ago(0, 20, 45)
    assert _report("--since", "1mo")["total"]["requests"] == 2
    assert _report("--since", "2mo")["total"]["requests"] == 3
    assert _report("--since", "1h30m")["total"]["requests"] == 1
    this_month = datetime.now().astimezone().strftime("%Y-%m")
    assert _report("--since", this_month, "--until", this_month)["total"]["requests"] >= 1


def test_a_capital_m_is_one_clear_line() -> None:
    result = runner.invoke(app, ["stats", "--since", "1M"])
    assert result.exit_code == 1 and "1mo" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_table_says_what_it_covers() -> None:
    _requests_days_ago(0)
    result = runner.invoke(app, ["stats", "--by", "month"], env={"COLUMNS": "100"})
    assert "the last 6 months" in result.stdout
