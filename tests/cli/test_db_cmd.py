"""`memproxy db check | recover` and `memproxy up`'s refusal of a damaged databank, without a daemon."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from typer.testing import CliRunner

from daemon.usage.record import UsageRecord
from memproxy_cli.main import app
from tests.support.databank import db_rows, write_records

runner = CliRunner()


def _damaged(home: Path) -> Path:
    db = home / "memproxy.db"
    write_records(db, *(UsageRecord(project="kept") for _ in range(5)))
    db.write_bytes(random.Random(3).randbytes(8192))
    return db


def test_check_says_sound_and_counts_rows(memproxy_home: Path) -> None:
    write_records(memproxy_home / "memproxy.db", UsageRecord(), UsageRecord())
    result = runner.invoke(app, ["db", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["rows"], report["rows_spooled"]) == (True, 2, 0)


def test_check_and_up_refuse_a_damaged_databank_in_one_sentence(memproxy_home: Path) -> None:
    _damaged(memproxy_home)
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 1
    assert "damaged" in check.stdout and "memproxy db recover" in check.stdout
    up = runner.invoke(app, ["up", "--port", "1"])  # refused before any port or spawn
    assert up.exit_code == 1
    assert up.stderr.startswith("memproxy: the usage databank") and "file is not a database" in up.stderr
    assert len(up.stderr.strip().splitlines()) == 1 and "Traceback" not in up.stderr


def test_recover_keeps_the_damaged_file_aside_and_leaves_a_usable_databank(memproxy_home: Path) -> None:
    db = _damaged(memproxy_home)
    result = runner.invoke(app, ["db", "recover"])
    assert result.exit_code == 0, result.output
    assert "recovered 0 row(s)" in result.stdout
    [aside] = memproxy_home.glob("memproxy.db.damaged-*[0-9]Z")
    assert aside.read_bytes() == random.Random(3).randbytes(8192)
    write_records(db, UsageRecord(project="after"))
    assert [r["project"] for r in db_rows(memproxy_home)] == ["after"]
    again = runner.invoke(app, ["db", "recover"])
    assert again.exit_code == 0 and "sound; nothing to recover" in again.stdout


def test_db_check_does_not_import_litellm(memproxy_home: Path) -> None:
    import subprocess

    code = (
        "import sys\nfrom memproxy_cli.main import app\ntry:\n    app(['db', 'check'])\n"
        "except SystemExit:\n    pass\nprint('litellm' in sys.modules, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no databank yet" in out.stdout
    assert out.stderr.strip() == "False"
