"""`memproxy logs`, through the real Typer app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from daemon.paths import resolve_paths
from daemon.usage_record import COLUMNS, UsageRecord
from daemon.usage_writer import UsageWriter
from memproxy_cli.main import app

runner = CliRunner()


def _write(*records: UsageRecord) -> None:
    writer = UsageWriter(resolve_paths().db_file)
    writer.start()
    for record in records:
        writer.submit(record)
    assert writer.close()


def _three() -> list[UsageRecord]:
    return [
        UsageRecord(
            id="r1",
            started_at="2025-03-01T10:00:00.000Z",
            project="alpha",
            client="claude-cli/1.0.83 (external, cli)",
            endpoint="/v1/messages",
            model="claude-sonnet-4",
            input_tokens=1200,
            output_tokens=30,
            cache_read_tokens=5000,
            cost_usd=0.00123,
            latency_ms=812.4,
        ),
        UsageRecord(id="r2", started_at="2025-03-01T10:01:00.000Z", model="gpt-4o", stream=True),
        UsageRecord(id="r3", started_at="2025-03-01T10:02:00.000Z", model="gpt-4o", status="error", http_status=429),
    ]


def test_empty_databank_says_so_and_creates_nothing(memproxy_home: Path) -> None:
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 0, result.output
    assert "no requests yet" in result.stdout
    assert not resolve_paths().db_file.exists()


def test_empty_databank_as_json_is_an_empty_array() -> None:
    result = runner.invoke(app, ["logs", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_json_prints_the_rows_the_writer_wrote() -> None:
    _write(*_three())
    result = runner.invoke(app, ["logs", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["r1", "r2", "r3"]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert rows[0]["cache_read_tokens"] == 5000 and rows[0]["project"] == "alpha"
    assert rows[1]["stream"] is True
    assert (rows[2]["status"], rows[2]["http_status"]) == ("error", 429)


def test_count_limits_to_the_newest() -> None:
    _write(*_three())
    result = runner.invoke(app, ["logs", "-n", "2", "--json"])
    assert [r["id"] for r in json.loads(result.stdout)] == ["r2", "r3"]
    result = runner.invoke(app, ["logs", "--count", "1"])
    assert result.exit_code == 0
    assert "429" in result.stdout and "alpha" not in result.stdout


def test_table_shows_what_a_user_needs() -> None:
    _write(*_three())
    result = runner.invoke(app, ["logs"], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("alpha", "claude-cli/1.0.83", "claude-sonnet-4", "1.2k", "5.0k/0", "$0.0012", "812"):
        assert expected in out
    assert "error 429" in out
    assert "(external" not in out  # the client is shortened to its product token
    assert out.index("claude-sonnet-4") < out.index("error 429")  # newest last


def test_a_corrupt_databank_is_one_line_on_stderr_and_exit_1() -> None:
    db_file = resolve_paths().db_file
    db_file.parent.mkdir(parents=True, exist_ok=True)
    db_file.write_bytes(b"not a database at all " * 200)
    for args in (["logs"], ["logs", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "usage databank" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_logs_never_imports_the_gateway_stack() -> None:
    _write(*_three())
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from memproxy_cli.main import app\n"
        "result = CliRunner().invoke(app, ['logs'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = {'litellm', 'fastapi', 'uvicorn'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
