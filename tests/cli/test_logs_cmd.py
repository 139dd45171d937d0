"""`memproxy logs`, through the real Typer app."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from daemon.config.paths import resolve_paths
from daemon.usage.record import COLUMNS, UsageRecord, iso_utc
from daemon.usage.writer import UsageWriter
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
            client="claude",
            user_agent="claude-cli/1.0.83 (external, cli)",
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
    for expected in ("alpha", "claude", "claude-sonnet-4", "1.2k", "5.0k/0", "$0.0012", "812"):
        assert expected in out
    assert "error 429" in out
    assert "claude-cli" not in out  # the client's short name, not its User-Agent
    assert out.index("claude-sonnet-4") < out.index("error 429")  # newest last


FAILED = (
    "upstream http://127.0.0.1:8901/v1/chat/completions answered 500: Internal Server Error: the model crashed "
    "while loading its weights from a disk that was full, and the server log says more about it"
)


def test_a_failed_rows_reason_reads_at_80_columns_and_whole_in_json() -> None:
    _write(
        UsageRecord(id="r1", started_at="2025-03-01T10:00:00.000Z", project="alpha", model="claude-sonnet-4-5"),
        UsageRecord(
            id="r2",
            started_at="2025-03-01T10:01:00.000Z",
            project="alpha",
            model="gpt-4o",
            status="error",
            http_status=502,
            error=FAILED,
        ),
        UsageRecord(
            id="r3",
            started_at="2025-03-01T10:02:00.000Z",
            project="alpha",
            model="gpt-4o",
            status="client_disconnected",
            http_status=499,
        ),
    )
    result = runner.invoke(app, ["logs"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    flat = " ".join(" ".join(line.split()) for line in lines)
    for expected in ("alpha", "gpt-4o", "error 502", "client_disconnected 499", "the client hung up"):
        assert expected in flat, result.stdout
    at = next(i for i, line in enumerate(lines) if "error 502" in line)
    below = " ".join(line.strip() for line in lines[at + 1 : at + 3])  # the reason, on a line of its own below
    assert below.startswith("↳ upstream answered 500: Internal Server Error"), result.stdout
    assert "127.0.0.1:8901" not in result.stdout, "the URL is for --json, the table says what happened"
    assert "…" in below and "server log" not in below, "a short reason: the long one is cut"
    (row,) = [r for r in json.loads(runner.invoke(app, ["logs", "--json"]).stdout) if r["id"] == "r2"]
    assert row["error"] == FAILED


def test_ok_rows_carry_no_reason_and_a_wide_table_keeps_every_column() -> None:
    _write(*_three())
    result = runner.invoke(app, ["logs"], env={"COLUMNS": "160"})
    header = result.stdout.splitlines()[0].split()
    assert header == ["time", "project", "client", "model", "in", "out", "cache", "r/w", "cost", "ms", "status"]
    assert "the client hung up" not in result.stdout


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


def _local_noon(day: int) -> str:
    """Noon of March `day`, 2025 in local time: the same local day in every time zone."""
    return iso_utc(datetime(2025, 3, day, 12).astimezone())


def _filtered() -> list[UsageRecord]:
    return [
        UsageRecord(
            id="a",
            started_at=_local_noon(1),
            project="shop",
            model="gpt-4o",
            client="aider",
            user_agent="OpenAI/Python 1.99",
            request_json='{"messages": [{"role": "user", "content": "why is the checkout slow"}]}',
            response_text="Because of the N+1 query.",
        ),
        UsageRecord(
            id="b",
            started_at=_local_noon(2),
            project="blog",
            model="claude-sonnet-4",
            client="claude",
            user_agent="claude-cli/1.0.83 (external, cli)",
            status="error",
            http_status=529,
        ),
        UsageRecord(id="c", started_at=_local_noon(3), project="shop", model="claude-sonnet-4"),
    ]


def _ids(*args: str) -> list[str]:
    result = runner.invoke(app, ["logs", "--json", *args])
    assert result.exit_code == 0, result.output
    return [row["id"] for row in json.loads(result.stdout)]


def test_filters_narrow_the_listing() -> None:
    _write(*_filtered())
    assert _ids("--project", "shop") == ["a", "c"]
    assert _ids("--model", "claude-sonnet-4") == ["b", "c"]
    assert _ids("--client", "CLAUDE") == ["b"]
    assert _ids("--client", "aider") == ["a"]  # the wrapped command's name, not its SDK's User-Agent
    assert _ids("--client", "claude-cli") == _ids("--client", "openai") == []  # short names only
    assert _ids("--errors") == ["b"]
    assert _ids("--since", "2025-03-02") == ["b", "c"]
    assert _ids("--until", "2025-03-02") == ["a", "b"]  # a date as --until includes that day
    assert _ids("--since", "2025-03-02T06:00", "--until", "2025-03-02T18:00") == ["b"]  # local times
    assert _ids("--since", "1h") == []
    assert _ids("--project", "shop", "--model", "gpt-4o", "-n", "1") == ["a"]


def test_query_finds_a_request_by_a_word_of_its_prompt_or_response() -> None:
    _write(*_filtered())
    assert _ids("-q", "checkout") == ["a"]
    assert _ids("-q", "CHECKOUT slow") == ["a"]
    assert _ids("--query", "query") == ["a"]  # in the response
    assert _ids("-q", "checkout", "--project", "blog") == []
    assert _ids("-q", 'NEAR("') == []  # FTS syntax is just text
    result = runner.invoke(app, ["logs", "-q", "nothing-like-this"])
    assert result.exit_code == 0 and "no matching requests" in result.stdout


def test_since_nonsense_is_one_clear_line_and_exit_1() -> None:
    _write(*_filtered())
    for args in (["--since", "nonsense"], ["--until", "2025-13-45"], ["--since", "5 parsecs"]):
        result = runner.invoke(app, ["logs", *args])
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert "cannot read" in result.stderr and "30m" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_a_locked_databank_is_a_clear_message() -> None:
    _write(*_filtered())
    holder = sqlite3.connect(resolve_paths().db_file, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE requests SET project = project")
    try:
        result = runner.invoke(app, ["logs"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1
    assert "locked" in result.stderr and "try again" in result.stderr
    assert "Traceback" not in result.stderr


def _follower(*args: str) -> subprocess.Popen[str]:
    code = "from memproxy_cli.main import app; app()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "logs", "--follow", "--poll-interval", "0.05", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    ready = threading.Event()
    box: list[str] = []

    def read() -> None:
        box.append(proc.stdout.readline())  # type: ignore[union-attr]
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    assert ready.wait(timeout), "the follower printed nothing"
    return box[0]


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_follow_prints_each_request_once_when_it_ends() -> None:
    _write(_filtered()[0])
    proc = _follower("--json", "-n", "5")
    try:
        assert json.loads(_read_line(proc))["id"] == "a"  # the recent rows first
        writer = UsageWriter(resolve_paths().db_file)
        writer.start()
        started = UsageRecord(id="live", project="shop", status="in_flight", request_json='{"q": 1}')
        writer.submit(started)
        writer.submit(UsageRecord(id="other", project="blog"))
        assert writer.flush()
        first = json.loads(_read_line(proc))
        assert first["id"] == "other"  # the in-flight row is not printed...
        writer.submit(UsageRecord(id="live", project="shop", status="ok", output_tokens=9))
        assert writer.close()
        done = json.loads(_read_line(proc))
        assert (done["id"], done["status"], done["output_tokens"]) == ("live", "ok", 9)  # ...its end is
    finally:
        code = _stop(proc)
    assert code == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_follow_applies_filters_and_waits_for_a_databank() -> None:
    proc = _follower("--project", "shop")  # no databank yet
    try:
        assert "time" in _read_line(proc)  # the table header, then rows as they come
        _write(
            UsageRecord(id="x1", project="blog", model="nope-model"),
            UsageRecord(id="x2", project="shop", model="yes-model"),
        )
        line = _read_line(proc)
        while not line.strip():
            line = _read_line(proc)
        assert "yes-model" in line and "nope-model" not in line
    finally:
        assert _stop(proc) == 0
