"""`memproxy db reprice`: stored costs recomputed from stored usage, and what changed said."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.pricing import Prices
from daemon.usage.record import UsageRecord
from daemon.usage.reprice import reprice
from daemon.usage.writer import UsageWriter
from memproxy_cli.main import app


def _write(db: Path, *records: UsageRecord) -> None:
    writer = UsageWriter(db)  # no pricing step: the costs stored are the ones given
    writer.start()
    for record in records:
        writer.submit(record)
    assert writer.close()


def _rows(db: Path) -> dict[str, float | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT id, cost_usd FROM requests"))
    finally:
        conn.close()


def _old_rows() -> list[UsageRecord]:
    # priced by an older memproxy: 1-hour writes at the 5-minute rate
    sonnet = {"model": "claude-sonnet-4-5", "resolved_model": "claude-sonnet-4-5", "provider": "anthropic"}
    return [
        UsageRecord(
            id="hour",
            cache_write_tokens=100_000,
            cache_write_1h_tokens=100_000,
            cost_usd=0.375,
            **sonnet,  # type: ignore[arg-type]
        ),
        UsageRecord(id="same", input_tokens=1000, cost_usd=0.003, **sonnet),  # type: ignore[arg-type]
        UsageRecord(id="local", resolved_model="llama3", provider="hosted_vllm", input_tokens=9),
        UsageRecord(id="flight", input_tokens=1000, status="in_flight", **sonnet),  # type: ignore[arg-type]
        UsageRecord(
            id="early",
            started_at="2020-01-01T00:00:00.000Z",
            input_tokens=10,
            cost_usd=1.0,
            **sonnet,  # type: ignore[arg-type]
        ),
    ]


def test_reprice_dry_run_says_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    _write(db, *_old_rows())
    before = _rows(db)
    report = reprice(db, Prices(), dry_run=True).as_dict()
    assert _rows(db) == before
    assert (report["rows"], report["changed"]) == (4, 2)  # not the in-flight row
    assert report["old_total_usd"] == pytest.approx(0.375 + 0.003 + 1.0)
    assert report["new_total_usd"] == pytest.approx(0.6 + 0.003 + 10 * 3e-6)
    (model,) = report["models"]
    assert model == {"model": "claude-sonnet-4-5", "rows": 2, "old_usd": 1.375, "new_usd": 0.60003}


def test_reprice_writes_the_new_costs_from_since_on(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    db = tmp_path / "memproxy.db"
    _write(db, *_old_rows())
    report = reprice(db, Prices(), since=datetime(2024, 1, 1, tzinfo=UTC)).as_dict()
    assert report["changed"] == 1
    rows = _rows(db)
    assert rows["hour"] == pytest.approx(0.6)
    assert rows["early"] == 1.0  # before --since: left alone
    assert rows["local"] is None and rows["flight"] is None
    assert reprice(db, Prices()).changed == 1  # then only the early row is left to change


def test_the_cli_reprices_with_the_configs_prices(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text(
        """model_list:
  - model_name: claude-sonnet-4-5
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: sk-x}
    model_info: {input_cost_per_token: 0.00001}
"""
    )
    db = resolve_paths().db_file
    _write(db, *_old_rows())
    runner = CliRunner()
    dry = runner.invoke(app, ["db", "reprice", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would change" in dry.output and "claude-sonnet-4-5" in dry.output
    result = runner.invoke(app, ["db", "reprice", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is False and report["changed"] == 3
    assert _rows(db)["same"] == pytest.approx(1000 * 1e-5)  # the override's input price
