"""The reports people keep open all day, at 60, 80, 120 and 200 columns: no value cut, nothing folded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import UsageRecord, iso_utc
from daemon.usage.writer import UsageWriter
from memproxy_cli.main import app

runner = CliRunner()
WIDTHS = [60, 80, 120, 200]
MODELS = ("claude-sonnet-4-5-20250929", "gpt-4o-mini", "gemini-2.5-pro")
PROJECTS = ("payments-service-backend", "blog")


def _traffic() -> None:
    now = datetime.now(UTC)
    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    for i in range(30):
        writer.submit(
            UsageRecord(
                id=f"w{i}",
                started_at=iso_utc(now - timedelta(hours=5 * i)),
                project=PROJECTS[i % 2],
                model=MODELS[i % 3],
                client=("claude", "openai-python", "aider")[i % 3],
                status="error" if i % 4 == 0 else "ok",
                http_status=502 if i % 4 == 0 else 200,
                error="upstream refused the connection" if i % 4 == 0 else None,
                input_tokens=123_456 * (i + 1),
                output_tokens=789 * i,
                cache_read_tokens=1000 * i,
                cost_usd=1.2345 * (i + 1),
                latency_ms=1234.0 + i,
            )
        )
    assert writer.close()


def _run(width: int, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= width for line in lines), f"a line wider than {width}:\n{result.stdout}"
    return result.stdout


def _whole_or_middle(name: str, table: str) -> bool:
    """`name` is in the table whole, or shortened in the middle (its start and end both kept)."""
    if name in table:
        return True
    shortened = re.findall(r"(\S{3,})…(\S{3,})", table)
    return any(name.startswith(head) and name.endswith(tail) for head, tail in shortened)


@pytest.mark.parametrize("width", WIDTHS)
def test_stats_by_day_keeps_dates_and_costs_whole(width: int) -> None:
    _traffic()
    report = json.loads(runner.invoke(app, ["stats", "--by", "day", "--json"]).stdout)
    table = _run(width, "stats", "--by", "day")
    for row in report["rows"]:
        line = next(line for line in table.splitlines() if line.startswith(row["key"] + " "))
        assert f"${row['cost_usd']:,.4f}" in line and f"{row['requests']:,}" in line
    assert f"${report['total']['cost_usd']:,.4f}" in table
    assert "…" not in table.split("cost per day")[0]  # numbers and dates are never shortened
    header = table.splitlines()[0]
    if width >= 120:
        assert "p95 ms" in header and "cache r" in header
    if width >= 200:
        assert "reasoning" in header and "of it 1h" in header


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("by", ["model", "project"])
def test_stats_names_shorten_in_the_middle_only(width: int, by: str) -> None:
    _traffic()
    report = json.loads(runner.invoke(app, ["stats", "--by", by, "--json"]).stdout)
    table = _run(width, "stats", "--by", by)
    for row in report["rows"]:
        assert _whole_or_middle(row["key"], table), table
        assert f"${row['cost_usd']:,.4f}" in table
    if width >= 200:
        assert all(row["key"] in table for row in report["rows"])


@pytest.mark.parametrize("width", WIDTHS)
def test_logs_keeps_times_costs_and_reasons_whole(width: int) -> None:
    _traffic()
    rows = json.loads(runner.invoke(app, ["logs", "-n", "8", "--json"]).stdout)
    table = _run(width, "logs", "-n", "8")
    for row in rows:
        assert f"${row['cost_usd']:.4f}" in table
        assert _whole_or_middle(row["model"], table), table
    assert table.count("↳ upstream refused the connection") == sum(r["status"] == "error" for r in rows)
    header = table.splitlines()[0].split()
    assert {"time", "model", "cost", "status"} <= set(header)
    if width >= 80:
        assert {"project", "in", "out"} <= set(header)
    if width >= 120:
        assert header == ["time", "project", "client", "model", "in", "out", "cache", "r/w", "cost", "ms", "status"]


def test_logs_follow_at_80_columns_keeps_tokens_and_cost_under_one_header() -> None:
    db_file = resolve_paths().db_file
    UsageWriter(db_file).start()  # the databank exists before the follower looks
    code = "from memproxy_cli.main import app; app()"
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "logs", "--follow", "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _traffic()
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    header, first = lines[0], next(line for line in lines[1:] if "$" in line)
    assert {"time", "project", "model", "in", "out", "cost", "status"} <= set(header.split()), lines
    assert all(len(line) <= 80 for line in lines), lines
    cost = re.search(r"\$\d+\.\d{4}", first)
    assert cost and cost.end() == header.index("cost") + len("cost"), lines  # right-aligned under its header


def test_stats_shows_a_dash_for_an_unpriced_model_as_logs_does() -> None:
    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    now = iso_utc(datetime.now(UTC))
    writer.submit(UsageRecord(id="u1", started_at=now, model="my-local", cost_usd=None))
    writer.submit(UsageRecord(id="p1", started_at=now, model="gpt-4o", cost_usd=0.5))
    assert writer.close()
    table = _run(80, "stats", "--by", "model")
    unpriced = next(line for line in table.splitlines() if line.startswith("my-local"))
    assert "–" in unpriced and "$0.0000" not in unpriced, table  # logs shows "–" for it too
    assert "$0.5000" in next(line for line in table.splitlines() if line.startswith("total"))
    report = json.loads(runner.invoke(app, ["stats", "--by", "model", "--json"]).stdout)
    assert {row["key"]: row["cost_usd"] for row in report["rows"]} == {"my-local": None, "gpt-4o": 0.5}


@pytest.mark.parametrize("width", [60, 80])
def test_status_wraps_its_models_under_the_list(width: int) -> None:
    result = runner.invoke(app, ["status"], env={"COLUMNS": str(width)})
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  models:   "))
    continued = [line for line in lines[start + 1 :] if line.startswith(" " * 12) and line.strip()]
    listed = " ".join(line.strip() for line in [lines[start][12:], *continued])
    assert all(len(line) <= width for line in [lines[start], *continued]), result.stdout
    assert "text-embedding-*" in listed.split(", ") and "gemini-*" in listed, result.stdout
