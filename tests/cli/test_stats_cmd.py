"""`memproxy stats`, through the real Typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import UsageRecord, iso_utc
from daemon.usage.writer import UsageWriter
from memproxy_cli.main import app
from memproxy_cli.stats_cmd import bar

runner = CliRunner()
FIELDS = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "cost_usd",
]


def _write(*records: UsageRecord) -> None:
    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    for record in records:
        writer.submit(record)
    assert writer.close()


def _traffic() -> list[UsageRecord]:
    """Requests through two projects and two models over the last three days, as the gateway records them."""
    now = datetime.now(UTC)
    records = []
    for i in range(24):
        project, model = ("shop", "blog")[i % 2], ("gpt-4o", "claude-sonnet-4")[i // 2 % 2]
        started = iso_utc(now - timedelta(hours=3 * i))
        flight = UsageRecord(id=f"q{i}", started_at=started, project=project, model=model, status="in_flight")
        final = UsageRecord(
            id=f"q{i}",
            started_at=started,
            project=project,
            model=model,
            client="claude" if model.startswith("claude") else "openai-python",
            status="error" if i % 7 == 0 else "ok",
            input_tokens=1000 + i,
            output_tokens=10 * i,
            cache_read_tokens=500 * (i % 3),
            cache_write_tokens=7 * (i % 2),
            cache_write_1h_tokens=5 * (i % 2),
            reasoning_tokens=3 * i,
            cost_usd=0.001 * (i + 1) + 0.0000003,
            latency_ms=200.0 + 37 * i,
            request_json=json.dumps({"messages": [{"role": "user", "content": f"question {i}"}]}),
        )
        records += [flight, final]
    return records


def _json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["stats", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_per_project_totals_equal_the_sums_of_the_logged_rows() -> None:
    _write(*_traffic())
    logged = runner.invoke(app, ["logs", "-n", "1000", "--json"])
    rows = json.loads(logged.stdout)
    assert len(rows) == 24 and {r["status"] for r in rows} == {"ok", "error"}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        sums[row["project"]]["requests"] += 1
        for name in FIELDS:
            sums[row["project"]][name] += row[name]
    report = _json("--by", "project")
    assert report["by"] == "project"
    assert {r["key"] for r in report["rows"]} == {"shop", "blog"}
    for group in report["rows"]:
        expected = sums[group["key"]]
        assert group["requests"] == expected["requests"]
        for name in FIELDS:
            assert group[name] == pytest.approx(expected[name], abs=1e-6), name
    for name in FIELDS:
        assert report["total"][name] == pytest.approx(sum(r[name] for r in rows), abs=1e-6)
    assert report["total"]["requests"] == 24
    assert report["total"]["error_rate"] == round(4 / 24, 4)
    ordered = sorted(r["latency_ms"] for r in rows)
    assert report["total"]["latency_p50_ms"] == ordered[11]  # nearest rank, to the ms below 1 s
    assert report["total"]["latency_p95_ms"] == pytest.approx(ordered[22], rel=0.01)  # to 1% above
    assert list(report["total"]) == [
        "key",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "cost_usd",
        "latency_p50_ms",
        "latency_p95_ms",
        "error_rate",
    ]


def test_every_grouping_adds_up_to_the_same_total() -> None:
    _write(*_traffic())
    total = _json()["total"]
    for by in ("model", "client", "day", "week", "month"):
        report = _json("--by", by)
        assert report["total"] == total, by
        assert sum(r["requests"] for r in report["rows"]) == 24
    assert {r["key"] for r in _json("--by", "model")["rows"]} == {"gpt-4o", "claude-sonnet-4"}
    assert {r["key"] for r in _json("--by", "client")["rows"]} == {"claude", "openai-python"}
    only_shop = _json("--by", "model", "--project", "shop")
    assert only_shop["total"]["requests"] == 12
    assert _json("--since", "1h")["total"]["requests"] == 1


def test_empty_databank_is_an_empty_report() -> None:
    report = _json("--by", "day")
    assert report["by"] == "day" and report["rows"] == []
    assert report["total"]["requests"] == 0 and report["total"]["cost_usd"] == 0.0
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0 and "no requests since 7d" in result.stdout
    assert not resolve_paths().db_file.exists()


def test_table_has_a_total_row_and_by_day_a_cost_chart() -> None:
    _write(*_traffic())
    result = runner.invoke(app, ["stats"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "shop" in result.stdout and "blog" in result.stdout and "total" in result.stdout
    assert "cost per day" not in result.stdout
    by_day = runner.invoke(app, ["stats", "--by", "day"], env={"COLUMNS": "160"})
    assert by_day.exit_code == 0, by_day.output
    assert "cost per day" in by_day.stdout and "█" in by_day.stdout
    today = datetime.now().astimezone().date().isoformat()
    assert today in by_day.stdout


def test_bar_scales_to_eighths_of_a_cell() -> None:
    assert bar(10, 10, width=4) == "████"
    assert bar(5, 10, width=4) == "██"
    assert bar(1, 16, width=2) == "▏"  # the smallest cost still shows
    assert bar(0, 10) == "" and bar(3, 0) == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "nonsense"], "cannot read 'nonsense' as a time"),
        (["--since", "2d", "--until", "3d"], "must come after"),
    ],
)
def test_bad_times_are_one_clear_line_and_exit_1(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["stats", *args])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_an_unknown_grouping_is_a_usage_error() -> None:
    result = runner.invoke(app, ["stats", "--by", "colour"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_corrupt_databank_is_one_line_on_stderr() -> None:
    db_file = resolve_paths().db_file
    db_file.parent.mkdir(parents=True, exist_ok=True)
    db_file.write_bytes(b"not a database at all " * 200)
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "usage databank" in result.stderr and len(result.stderr.strip().splitlines()) == 1


UNROUTED_CONFIG = """model_list:
  - model_name: claude-sonnet-4-5
    litellm_params: {model: anthropic/claude-sonnet-4-5}
  - model_name: "gpt-*"
    litellm_params: {model: "openai/gpt-*"}
router_settings:
  model_group_alias: {claude-haiku-4-5-20251001: claude-sonnet-4-5}
"""


def _unrouted_traffic() -> list[UsageRecord]:
    now = iso_utc(datetime.now(UTC) - timedelta(minutes=5))

    def unrouted(id_: str, project: str, client: str, model: str) -> UsageRecord:
        return UsageRecord(
            id=id_, started_at=now, project=project, client=client, model=model, status="error", http_status=404
        )

    return [
        unrouted("o1", "shop", "claude", "claude-opus-4-8"),
        unrouted("o2", "blog", "claude", "claude-opus-4-8"),
        unrouted("h1", "shop", "opencode", "claude-haiku-4-5-20251001"),  # aliased since: routed now, not listed
        UsageRecord(id="ok", project="shop", client="claude", model="claude-sonnet-4-5", provider="anthropic"),
    ]


def test_unrouted_names_come_with_the_alias_to_add(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text(UNROUTED_CONFIG)
    _write(*_unrouted_traffic())
    result = runner.invoke(app, ["stats", "--unrouted", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(n["model"], n["requests"], n["clients"], n["projects"]) for n in report["unrouted"]] == [
        ("claude-opus-4-8", 2, ["claude"], ["blog", "shop"])
    ]
    assert report["config"] == "router_settings:\n  model_group_alias:\n    claude-opus-4-8: claude-sonnet-4-5\n"
    table = runner.invoke(app, ["stats", "--unrouted", "--project", "shop"], env={"COLUMNS": "140"})
    assert table.exit_code == 0, table.output
    assert "claude-opus-4-8" in table.stdout and "claude-opus-4-8: claude-sonnet-4-5" in table.stdout
    assert "claude-haiku" not in table.stdout


def test_no_unrouted_names_says_so(memproxy_home: Path) -> None:
    (memproxy_home / "config.yaml").write_text(UNROUTED_CONFIG)
    result = runner.invoke(app, ["stats", "--unrouted"])
    assert result.exit_code == 0 and "every requested model name found a route" in result.stdout
    assert json.loads(runner.invoke(app, ["stats", "--unrouted", "--json"]).stdout) == {"unrouted": [], "config": ""}


def test_stats_never_imports_the_gateway_stack() -> None:
    _write(*_traffic())
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from memproxy_cli.main import app\n"
        "for args in (['stats'], ['stats', '--by', 'day', '--json'], ['stats', '--unrouted'],"
        " ['logs', '-q', 'question', '--json']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "heavy = {'litellm', 'fastapi', 'uvicorn', 'prometheus_client', 'opentelemetry'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
