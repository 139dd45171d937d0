"""`memproxy db reprice`: stored costs recomputed from stored usage, after the prices changed.

After a LiteLLM upgrade (a new price map) or a price set in the config's `model_info`, the rows
already written keep their old cost until this runs. Imports LiteLLM (offline) when called.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from memproxy_cli.options import ConfigOption
from memproxy_cli.output import console


def reprice(
    since: Annotated[
        str | None, typer.Option("--since", "-s", help="From: 30m, 2h, 7d, 1w, today, a date (default: all rows).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", "-u", help="Up to (same forms as --since).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """Price stored rows again from their usage (LiteLLM's price map and the config's model_info prices)."""
    from daemon.config.settings import load_settings
    from daemon.usage.pricing import Prices
    from daemon.usage.reprice import reprice as run
    from memproxy_cli.timespec import parse_timespec

    settings = load_settings(config_file=config)
    start = parse_timespec(since) if since else None
    end = parse_timespec(until, end=True) if until else None
    report = run(
        settings.paths.db_file, Prices.from_settings(settings), since=start, until=end, dry_run=dry_run
    ).as_dict()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    from rich.table import Table

    verb = "would change" if report["dry_run"] else "changed"
    old, new = report["old_total_usd"], report["new_total_usd"]
    console.print(
        f"{report['rows']:,} rows priced again: {report['changed']:,} {verb}; "
        f"total ${old:,.4f} → ${new:,.4f} ({new - old:+,.4f})"
    )
    if not report["models"]:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("model", "rows", "old", "new", "change"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for m in report["models"]:
        diff = m["new_usd"] - m["old_usd"]
        table.add_row(m["model"], f"{m['rows']:,}", f"${m['old_usd']:,.4f}", f"${m['new_usd']:,.4f}", f"{diff:+,.4f}")
    console.print(table)
    if report["dry_run"]:
        console.print("[dim]nothing written (--dry-run)[/]")
