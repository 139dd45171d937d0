"""`memproxy stats`: usage per project, model, client, day, week or month, with a total row.

Reads the databank only; imports rich and the query module inside the command, never LiteLLM,
FastAPI or uvicorn.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from memproxy_cli.logs_cmd import _local_time, human_count
from memproxy_cli.options import ConfigOption

_BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


class By(StrEnum):
    project = "project"
    model = "model"
    client = "client"
    day = "day"
    week = "week"
    month = "month"


def bar(value: float, largest: float, width: int = _BAR_WIDTH) -> str:
    """`value` as a bar of unicode blocks, `width` cells for `largest`, in eighths of a cell."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _cells(row: dict[str, Any]) -> list[str]:
    from rich.markup import escape

    return [
        escape("–" if row["key"] is None else str(row["key"])),
        f"{row['requests']:,}",
        human_count(row["input_tokens"]),
        human_count(row["output_tokens"]),
        human_count(row["cache_read_tokens"]),
        human_count(row["cache_write_tokens"]),
        human_count(row.get("cache_write_1h_tokens") or 0),
        human_count(row.get("reasoning_tokens") or 0),
        f"${row['cost_usd']:,.4f}",
        _ms(row["latency_p50_ms"]),
        _ms(row["latency_p95_ms"]),
        f"{row['error_rate'] * 100:.1f}%",
    ]


def stats(
    by: Annotated[By, typer.Option("--by", "-b", help="Group by this.", case_sensitive=False)] = By.project,
    since: Annotated[
        str, typer.Option("--since", "-s", help="From: 30m, 2h, 7d, 1w, today, yesterday or a date.")
    ] = "7d",
    until: Annotated[str | None, typer.Option("--until", "-u", help="Up to (same forms as --since).")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document: {by, rows, total}.")] = False,
    unrouted: Annotated[
        bool,
        typer.Option("--unrouted", help="Instead: the model names no deployment serves, with the alias to add."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Requests, tokens, cost, p50/p95 latency and error rate per group, with a total."""
    from daemon.config.paths import resolve_paths
    from daemon.usage.stats import usage_stats
    from memproxy_cli.output import fail
    from memproxy_cli.timespec import parse_timespec

    start = parse_timespec(since)
    end = parse_timespec(until, end=True) if until else None
    if end is not None and end <= start:
        fail(f"--until ({until}) must come after --since ({since})")
    if unrouted:
        _unrouted(config, start, end, project, as_json, since)
        return
    report = usage_stats(resolve_paths().db_file, by=by.value, since=start, until=end, project=project)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print(report, since, until)


def _print(report: dict[str, Any], since: str, until: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from memproxy_cli.output import console

    span = f"since {since}" + (f" until {until}" if until else "")
    if not report["rows"]:
        console.print(f"no requests {escape(span)}")
        return
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column(report["by"], overflow="fold")
    columns = ("requests", "in", "out", "cache r", "cache w", "of it 1h", "reasoning", "cost", "p50 ms", "p95 ms")
    for name in (*columns, "errors"):
        table.add_column(name, justify="right", no_wrap=True)
    rows = report["rows"]
    for i, row in enumerate(rows):
        table.add_row(*_cells(row), end_section=i == len(rows) - 1)
    table.add_row(*_cells(report["total"]), style="bold")
    console.print(table)
    console.print(f"[dim]{escape(span)}; latency percentiles rounded down to 1 ms below 1 s, to 1% above[/]")
    if report["by"] == "day":
        _chart(rows)


def _unrouted(config: Any, start: Any, end: Any, project: str | None, as_json: bool, since: str) -> None:
    from datetime import datetime

    from rich.markup import escape
    from rich.table import Table

    from daemon.config.settings import load_settings
    from daemon.gateway.llm import find_deployment  # pure; LiteLLM itself is imported only when called for
    from daemon.usage.unrouted import unrouted_names, unrouted_report
    from memproxy_cli.output import console

    settings = load_settings(config_file=config)
    models, aliases = settings.model_list, settings.router_settings

    def routes(name: str) -> bool:
        return find_deployment(models, aliases.resolve_alias(name)) is not None

    rows = unrouted_names(settings.paths.db_file, start, end, project)
    report = unrouted_report(rows, [m.model_name for m in models], routes)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if not report["unrouted"]:
        console.print(f"every requested model name found a route (since {escape(since)})")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("requested model", "requests", "clients", "projects", "last seen"):
        table.add_column(name, justify="right" if name == "requests" else "left", overflow="fold")
    today = datetime.now().astimezone().date()
    for row in report["unrouted"]:
        clients, projects = ", ".join(row["clients"]) or "–", ", ".join(row["projects"])
        cells = (row["model"], f"{row['requests']:,}", clients, projects, _local_time(row["last_seen"], today))
        table.add_row(*(escape(c) for c in cells))
    console.print(table)
    console.print("\n[bold]add to config.yaml[/] (each name served by the model it names; pick another if you like):")
    console.print(escape(report["config"]), highlight=False, end="")


def _chart(rows: list[dict[str, Any]]) -> None:
    from rich.markup import escape

    from memproxy_cli.output import console

    largest = max(row["cost_usd"] for row in rows)
    console.print()
    console.print("[bold]cost per day[/]")
    for row in rows:
        cost = row["cost_usd"]
        console.print(f"{escape(str(row['key']))}  [cyan]{bar(cost, largest):<{_BAR_WIDTH}}[/]  ${cost:,.4f}")
