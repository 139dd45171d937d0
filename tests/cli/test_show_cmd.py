"""`memproxy logs show ID`: one request whole, from the databank the gateway writes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import UsageRecord
from memproxy_cli.main import app
from tests.support.databank import write_records

runner = CliRunner()


def _write(*records: UsageRecord) -> None:
    write_records(resolve_paths().db_file, *records)


ASKED = {
    "model": "claude-sonnet-4-5",
    "system": "You are terse.",
    "messages": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]},
        {"role": "user", "content": [{"type": "text", "text": "And of Italy?"}]},
    ],
}


def _records() -> list[UsageRecord]:
    return [
        UsageRecord(
            id="3f2a9c0d11aa",
            started_at="2026-11-30T10:00:00.000Z",
            project="shop",
            client="claude",
            user_agent="claude-cli/2.0.1",
            endpoint="/v1/messages",
            model="claude-sonnet-4-5",
            resolved_model="claude-sonnet-4-5-20250929",
            provider="anthropic",
            stream=True,
            http_status=200,
            input_tokens=1234,
            output_tokens=56,
            cache_read_tokens=4000,
            cost_usd=0.004321,
            latency_ms=812.0,
            ttft_ms=301.0,
            memory_hits=2,
            request_json=json.dumps(ASKED),
            response_text="Rome.",
        ),
        UsageRecord(
            id="3f2b00000000",
            started_at="2026-11-30T11:00:00.000Z",
            status="error",
            http_status=502,
            error="cannot reach the upstream http://127.0.0.1:9/v1: connection refused",
        ),
    ]


def test_show_prints_the_request_whole() -> None:
    _write(*_records())
    result = runner.invoke(app, ["logs", "show", "3f2a9c0d11aa"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "shop",
        "claude-cli/2.0.1",
        "/v1/messages (stream)",
        "claude-sonnet-4-5 → claude-sonnet-4-5-20250929 via anthropic",
        "1.2k in, 56 out, cache 4.0k read",
        "$0.004321",
        "812 ms, first token after 301 ms",
        "2 memories injected",
        "system: You are terse.",
        "user: What is the capital of France?",
        "assistant: Paris.",
        "user: And of Italy?",
        "Rome.",
    ):
        assert expected in out, f"{expected!r} not in:\n{out}"


def test_show_takes_a_unique_start_of_an_id_or_last() -> None:
    _write(*_records())
    assert "2 memories injected" in runner.invoke(app, ["logs", "show", "3f2a"]).stdout
    last = runner.invoke(app, ["logs", "show", "last"], env={"COLUMNS": "100"}).stdout
    assert "3f2b00000000" in last and "connection refused" in last and "error 502" in last
    both = runner.invoke(app, ["logs", "show", "3f2"])
    assert both.exit_code == 1 and "more than one" in both.stderr
    none = runner.invoke(app, ["logs", "show", "nosuch"])
    assert none.exit_code == 1 and "no request 'nosuch'" in none.stderr and "Traceback" not in none.output


def test_show_json_is_the_databank_row() -> None:
    _write(*_records())
    row = json.loads(runner.invoke(app, ["logs", "show", "3f2a9c0d11aa", "--json"]).stdout)
    listed = [r for r in json.loads(runner.invoke(app, ["logs", "--json"]).stdout) if r["id"] == "3f2a9c0d11aa"]
    assert row == listed[0]


def test_logs_without_a_subcommand_still_lists() -> None:
    _write(*_records())
    result = runner.invoke(app, ["logs", "-n", "1"], env={"COLUMNS": "100"})
    assert result.exit_code == 0 and "error 502" in result.stdout and "shop" not in result.stdout
