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


def _cost(value: float | None) -> str:
    return "–" if value is None else f"${value:,.4f}"


# by priority: 0 always shown; a narrow terminal leaves out the highest numbers first
_COLUMNS = (
    ("requests", 0, "requests"),
    ("in", 1, "input_tokens"),
    ("out", 1, "output_tokens"),
    ("cache r", 5, "cache_read_tokens"),
    ("cache w", 6, "cache_write_tokens"),
    ("of it 1h", 8, "cache_write_1h_tokens"),
    ("reasoning", 7, "reasoning_tokens"),
    ("cost", 0, "cost_usd"),
    ("p50 ms", 3, "latency_p50_ms"),
    ("p95 ms", 4, "latency_p95_ms"),
    ("errors", 2, "error_rate"),
)


def _cells(row: dict[str, Any]) -> list[str]:
    cells = ["–" if row["key"] is None else str(row["key"])]
    for _, _, field in _COLUMNS:
        value = row.get(field)
        if field == "requests":
            cells.append(f"{value:,}")
        elif field == "cost_usd":  # None: no request of the group priced; "–", as logs shows it
            cells.append(_cost(value))
        elif field.startswith("latency"):
            cells.append(_ms(value))
        elif field == "error_rate":
            cells.append(f"{(value or 0) * 100:.1f}%")
        else:
            cells.append(human_count(value or 0))
    return cells


# what a grouping covers when --since is not given: whole days, weeks and months
_DEFAULT_SINCE = {"day": "the last 7 days", "week": "the last 8 weeks", "month": "the last 6 months"}


def _default_start(by: str) -> Any:
    from datetime import datetime, timedelta

    from memproxy_cli.timespec import parse_timespec

    if by == "month":
        start = parse_timespec("this-month")
        for _ in range(5):
            start = parse_timespec("this-month", start - timedelta(days=1))
        return start
    if by == "week":
        return parse_timespec("this-week", datetime.now() - timedelta(weeks=7))
    return parse_timespec("today", datetime.now() - timedelta(days=6))


def stats(
    by: Annotated[
        By,
        typer.Option(
            "--by",
            "-b",
            metavar="GROUP",
            help="Group by project, model, client, day, week or month.",
            case_sensitive=False,
        ),
    ] = By.project,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            "-s",
            help="From: 30m, 1h30m, 7d, 2w, 1mo (m is minutes), today, this-month, 2026-12 or a date"
            " (default: 7d; by day the last 7 days whole, by week 8 weeks, by month 6 months).",
        ),
    ] = None,
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

    since = since or _DEFAULT_SINCE.get(by.value, "7d")
    start = _default_start(by.value) if since == _DEFAULT_SINCE.get(by.value) else parse_timespec(since)
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

    from memproxy_cli.columns import Column, fitted_table
    from memproxy_cli.output import console

    span = (since if since in _DEFAULT_SINCE.values() else f"since {since}") + (f" until {until}" if until else "")
    if not report["rows"]:
        console.print(f"no requests {escape(span)}")
        return
    # a day, week or month is shown whole; a project, model or client name may shorten in the middle
    key = Column(report["by"], least=0 if report["by"] in ("day", "week", "month") else 8)
    columns = [key, *(Column(name, priority, numeric=True) for name, priority, _ in _COLUMNS)]
    rows = report["rows"]
    cells = [_cells(row) for row in rows]
    table = fitted_table(columns, cells, console.width, total=_cells(report["total"]))
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

    largest = max(row["cost_usd"] or 0 for row in rows)
    costs = [_cost(row["cost_usd"]) for row in rows]
    # the bar takes what the day and the cost leave of the line, never wrapping them
    width = max(4, min(_BAR_WIDTH, console.width - 10 - max(map(len, costs)) - 4))
    console.print()
    console.print("[bold]cost per day[/]")
    for row, cost in zip(rows, costs, strict=True):
        drawn = bar(row["cost_usd"] or 0, largest, width)
        console.print(f"{escape(str(row['key']))}  [cyan]{drawn:<{width}}[/]  {cost}")
