"""`memproxy ports`, `ports assign`, `ports release` as a user runs them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from memproxy_cli.main import app
from tests.support.light import run_counting_heavy
from tests.support.ports import free_range

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _config(home: Path, low: int, high: int) -> None:
    (home / "config.yaml").write_text(f"interceptor:\n  port_range: [{low}, {high}]\n")


def test_empty_registry() -> None:
    result = runner.invoke(app, ["ports"])
    assert result.exit_code == 0
    assert "no projects yet" in result.output
    result = runner.invoke(app, ["ports", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_assign_twice_same_port_then_list_and_release(memproxy_home: Path) -> None:
    low, high = free_range()
    _config(memproxy_home, low, high)
    first = runner.invoke(app, ["ports", "assign", "shop"])
    assert first.exit_code == 0, first.output
    port = json.loads(resolve_paths().registry_file.read_text())["projects"]["shop"]
    assert low <= port <= high
    assert f"shop → port {port} (new)" in first.output
    assert f"http://127.0.0.1:{port}/v1" in first.output
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in first.output
    assert "PyCharm AI Assistant" in first.output
    assert "memproxy is not running" in first.output

    second = runner.invoke(app, ["ports", "assign", "shop"])
    assert second.exit_code == 0
    assert f"shop → port {port}\n" in second.output

    with socket.create_server(("127.0.0.1", port)):  # another program, not a memproxy daemon, holds it
        listed = runner.invoke(app, ["ports", "--json"])
        table = runner.invoke(app, ["ports"])
    assert json.loads(listed.output) == [
        {
            "name": "shop",
            "port": port,
            "listening": False,
            "requests": 0,
            "cost_usd": 0.0,
            "month_cost_usd": 0.0,
            "budget_percent": None,  # no budget
        }
    ]
    assert "shop" in table.output and str(port) in table.output and "no" in table.output

    released = runner.invoke(app, ["ports", "release", "shop"])
    assert released.exit_code == 0
    assert f"released shop (port {port})" in released.output
    again = runner.invoke(app, ["ports", "release", "shop"])
    assert again.exit_code == 1 and "no project shop in the registry" in again.stderr
    assert json.loads(runner.invoke(app, ["ports", "--json"]).output) == []


def test_assign_explicit_port(memproxy_home: Path) -> None:
    low, high = free_range()
    _config(memproxy_home, low, high)
    result = runner.invoke(app, ["ports", "assign", "shop", "--port", str(high)])
    assert result.exit_code == 0, result.output
    assert f"shop → port {high} (new)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ports", "assign", "a/b"], "invalid project name 'a/b'"),
        (["ports", "assign", "has space"], "invalid project name 'has space'"),
        (["ports", "assign", ".."], "invalid project name '..'"),
        (["ports", "assign", "x" * 200], "invalid project name"),
        (["ports", "release", "a/b"], "invalid project name"),
        (["ports", "assign", "shop", "--port", "80"], "port 80 is outside interceptor.port_range 8800-8899"),
    ],
)
def test_user_mistakes_are_one_line_exit_1(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not resolve_paths().registry_file.exists()


def test_damaged_registry_is_named_and_kept() -> None:
    paths = resolve_paths()
    paths.registry_file.write_text('{"projects": {"shop": 88')
    for args in (["ports"], ["ports", "--json"], ["ports", "assign", "blog"], ["ports", "release", "shop"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert "is damaged" in result.output
    assert paths.registry_file.read_text() == '{"projects": {"shop": 88'


@pytest.mark.parametrize("argv", [["--help"], ["ports"], ["ports", "--json"], ["ports", "assign", "shop"]])
def test_ports_stays_light(argv: list[str]) -> None:
    heavy, printed = run_counting_heavy(argv)
    assert heavy == [], printed


def test_ports_shows_the_month_to_date_cost(memproxy_home: Path) -> None:
    from datetime import datetime, timedelta

    from daemon.usage.record import UsageRecord, iso_utc
    from tests.support.databank import write_records

    low, high = free_range()
    _config(memproxy_home, low, high)
    assert runner.invoke(app, ["ports", "assign", "shop"]).exit_code == 0
    now = datetime.now().astimezone()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    earlier = now - timedelta(minutes=1) if now - timedelta(minutes=1) >= month_start else now
    last_month = month_start - timedelta(days=2)
    write_records(
        memproxy_home / "memproxy.db",
        UsageRecord(project="shop", started_at=iso_utc(earlier), cost_usd=0.25),
        UsageRecord(project="shop", started_at=iso_utc(last_month), cost_usd=9.0),
    )
    (row,) = json.loads(runner.invoke(app, ["ports", "--json"]).output)
    assert row["month_cost_usd"] == 0.25  # last month's $9 is not this month's
    table = runner.invoke(app, ["ports"], env={"COLUMNS": "100"})
    assert "this month" in table.output and "$0.2500" in table.output


def test_the_recipe_says_which_key_a_port_takes() -> None:
    from memproxy_cli.ports_cmd import recipe

    guarded = recipe("shop", 8800, token=True)
    assert "the port token (`memproxy ports token` prints it" in guarded
    assert 'export OPENAI_API_KEY="$(memproxy ports token)"' in guarded
    assert "any text (e.g. memproxy)" in recipe("shop", 8800) and "ports token" not in recipe("shop", 8800)


def test_ports_token_without_token_auth_says_how_to_turn_it_on(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ports", "token"], env={"MEMPROXY_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert "interceptor: {auth: token}" in result.output
    assert not (tmp_path / "port-token").exists()
