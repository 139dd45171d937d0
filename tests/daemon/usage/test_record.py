"""The usage row type."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

from daemon.usage.record import COLUMNS, STATUSES, UsageRecord, iso_utc


def test_defaults_give_a_fresh_id_and_a_utc_millisecond_timestamp() -> None:
    a, b = UsageRecord(), UsageRecord()
    assert a.id != b.id and re.fullmatch(r"[0-9a-f]{32}", a.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a.started_at)
    assert a.project == "default" and a.status == "ok" and a.stream is False
    assert a.status in STATUSES


def test_iso_utc_converts_to_utc_and_keeps_milliseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2025, 1, 31, 11, 15, 2, 123456, tzinfo=plus_two)) == "2025-01-31T09:15:02.123Z"
    assert iso_utc(datetime(2025, 1, 31, 9, 15, 2)) == "2025-01-31T09:15:02.000Z"  # naive means UTC
    assert datetime.fromisoformat(iso_utc()).tzinfo == UTC


def test_as_row_follows_columns() -> None:
    record = UsageRecord(model="gpt-4o", input_tokens=7, response_text="hi")
    row = record.as_row()
    assert len(row) == len(COLUMNS)
    assert dict(zip(COLUMNS, row, strict=True))["model"] == "gpt-4o"
    assert row[COLUMNS.index("input_tokens")] == 7
    assert COLUMNS[0] == "id"


def test_importing_it_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, daemon.usage.record, daemon.usage.store, daemon.usage.writer, daemon.usage.query\n"
        "heavy = {'litellm', 'fastapi', 'uvicorn', 'pydantic', 'httpx', 'rich'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
