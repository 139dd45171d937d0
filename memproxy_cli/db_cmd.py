"""`memproxy db check | recover`: is the usage databank sound, and keeping what can be read when it is not.

Both work on the file with the stdlib's sqlite3 (`daemon.usage.integrity`); nothing heavy is imported.
`recover` refuses while the daemon runs: it moves the databank aside and writes a new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from memproxy_cli.options import ConfigOption
from memproxy_cli.output import console
from memproxy_cli.reprice_cmd import reprice

db_app = typer.Typer(
    help="The usage databank: check it, recover what a damaged one still holds, price it again.", no_args_is_help=True
)
db_app.command()(reprice)


def _db_file(config: Path | None) -> Path:
    from daemon.config.paths import resolve_paths

    return resolve_paths(config_file=config).db_file


def _row_count(db: Path) -> int | None:
    import sqlite3

    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            (count,) = conn.execute("SELECT COUNT(*) FROM requests").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(count)


@db_app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run SQLite's quick_check on the databank; exit 1 if it is damaged (then see `memproxy db recover`)."""
    from daemon.usage.integrity import damage
    from daemon.usage.spool import count_rows, spool_path

    db = _db_file(config)
    problem = damage(db)
    report: dict[str, Any] = {
        "db_path": str(db),
        "exists": db.exists(),
        "ok": problem is None,
        "problem": problem,
        "rows": _row_count(db) if problem is None and db.exists() else None,
        "rows_spooled": count_rows(spool_path(db)),
        "spool": str(spool_path(db)),
    }
    if as_json:
        print(json.dumps(report, indent=2))
    elif problem is not None:
        console.print(f"[red]✗[/] the databank {db} is damaged: {problem}")
        console.print("  run [bold]memproxy down[/] then [bold]memproxy db recover[/] to keep what it still holds")
    elif not report["exists"]:
        console.print(f"[green]✓[/] no databank yet at {db} (the daemon creates it)")
    else:
        console.print(f"[green]✓[/] the databank {db} is sound ({report['rows']} rows)")
    if report["rows_spooled"] and not as_json:
        console.print(f"  {report['rows_spooled']} row(s) wait in {report['spool']}; the daemon writes them")
    if problem is not None:
        raise typer.Exit(1)


@db_app.command()
def recover(
    force: Annotated[bool, typer.Option("--force", help="Rebuild the databank even if it checks sound.")] = False,
    config: ConfigOption = None,
) -> None:
    """Move a damaged databank aside (timestamped) and copy every row it can still read into a new one."""
    from daemon.config.paths import resolve_paths
    from daemon.errors import DatabankError
    from daemon.lifecycle import read_daemon_info
    from daemon.usage.integrity import damage
    from daemon.usage.integrity import recover as recover_databank

    paths = resolve_paths(config_file=config)
    db = paths.db_file
    running = read_daemon_info(paths)
    if running is not None:
        raise DatabankError(f"the daemon (pid {running.pid}) has the databank open; run `memproxy down` first")
    if not db.exists():
        raise DatabankError(f"there is no usage databank at {db}; nothing to recover")
    if not force and damage(db) is None:
        console.print(f"[green]✓[/] the databank {db} is sound; nothing to recover (--force rebuilds it anyway)")
        return
    result = recover_databank(db)
    skipped = f", {result.skipped} unreadable stretch(es) skipped" if result.skipped else ""
    console.print(f"[green]✓[/] recovered {result.rows} row(s) into a new databank at {db}{skipped}")
    console.print(f"  the damaged file is kept at {result.kept_at}")
