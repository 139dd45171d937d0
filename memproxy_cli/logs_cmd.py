"""`memproxy logs`: recent requests from the usage databank, newest last.

Reads the database only (never creates it) and imports nothing heavy: rich and sqlite3 are
loaded inside the command, LiteLLM, FastAPI and uvicorn never.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime
from typing import Annotated, Any

import typer

_CLIENT_WIDTH = 24
_STATUS_STYLES = {
    "ok": "green",
    "error": "bold red",
    "interrupted": "magenta",
    "client_disconnected": "yellow",
    "in_flight": "cyan",
}


def _local_time(started_at: str, today: date) -> str:
    try:
        moment = datetime.fromisoformat(started_at).astimezone()
    except (TypeError, ValueError):
        return str(started_at)
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M:%S")


def _short_client(client: str | None) -> str:
    # the client's short name (`aider`, `claude`); its User-Agent is in the JSON rows
    if not client:
        return "–"
    return client if len(client) <= _CLIENT_WIDTH else client[: _CLIENT_WIDTH - 1] + "…"


def human_count(n: int | None) -> str:
    """Token counts the way people say them: 950, 12.3k, 1.2M."""
    n = n or 0
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def _cache(row: dict[str, Any]) -> str:
    read, write = row.get("cache_read_tokens") or 0, row.get("cache_write_tokens") or 0
    return f"{human_count(read)}/{human_count(write)}" if read or write else ""


def _cost(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _status(row: dict[str, Any]) -> str:
    status = str(row.get("status") or "")
    style = _STATUS_STYLES.get(status, "")
    http = row.get("http_status")
    # The HTTP code says what kind of failure (429, 401, 504...), so show it next to a non-ok status.
    text = f"{status} {http}" if http and status != "ok" else status
    return f"[{style}]{text}[/]" if style else text


def row_cells(row: dict[str, Any], today: date) -> list[str]:
    """The table cells for one databank row (rich markup in the status cell)."""
    from rich.markup import escape

    return [
        _local_time(row.get("started_at") or "", today),
        escape(str(row.get("project") or "")),
        escape(_short_client(row.get("client"))),
        escape(str(row.get("model") or row.get("resolved_model") or "–")),
        human_count(row.get("input_tokens")),
        human_count(row.get("output_tokens")),
        _cache(row),
        _cost(row.get("cost_usd")),
        _ms(row.get("latency_ms")),
        _status(row),
    ]


def build_table(rows: list[dict[str, Any]], *, show_header: bool = True, fixed: bool = False) -> Any:
    """A rich Table of databank rows; `fixed` column widths keep batches printed one by one aligned."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, show_header=show_header)
    widths = (19, 16, _CLIENT_WIDTH, 22, 6, 6, 11, 9, 7, 24) if fixed else (None,) * 10
    names = ("time", "project", "client", "model", "in", "out", "cache r/w", "cost", "ms", "status")
    for i, (name, width) in enumerate(zip(names, widths, strict=True)):
        numeric = 4 <= i <= 8
        table.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=numeric or i in (0, 9),
            overflow="ellipsis",
            width=width,
        )
    today = datetime.now().astimezone().date()
    for row in rows:
        table.add_row(*row_cells(row, today))
    return table


def logs(
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many requests to show.")] = 20,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model (requested or resolved).")] = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", "-c", help="Only this client: aider, claude, codex, openai-python... (stats --by client)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", "-s", help="From: 30m, 2h, 7d, 1w, today, yesterday or a date.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", "-u", help="Up to (same forms as --since).")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only failed requests (error, interrupted).")] = False,
    query: Annotated[
        str | None, typer.Option("-q", "--query", help="Only requests whose prompt or response has these words.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON array of full databank rows (with --follow: one row per line)."),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing requests as they finish, until Ctrl-C.")
    ] = False,
    poll_interval: Annotated[float, typer.Option("--poll-interval", hidden=True, min=0.01)] = 1.0,
    daemon: Annotated[
        bool, typer.Option("--daemon", help="The daemon's own log instead (its last -n lines; --follow works).")
    ] = False,
) -> None:
    """Recent requests from the usage databank, newest last."""
    from daemon.config.paths import resolve_paths

    if daemon:
        from memproxy_cli.daemon_log import show_daemon_log

        show_daemon_log(resolve_paths().log_file, count, follow=follow, poll_interval=poll_interval)
        return
    from daemon.usage.query import RowFilter, recent_with_cursor
    from memproxy_cli.timespec import parse_timespec

    row_filter = RowFilter(
        project=project,
        model=model,
        client=client,
        since=parse_timespec(since) if since else None,
        until=parse_timespec(until, end=True) if until else None,
        errors=errors,
        search=query,
    )
    db_file = resolve_paths().db_file
    rows, cursor = recent_with_cursor(db_file, limit=count, row_filter=row_filter)

    if as_json and not follow:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        _print_rows(rows, db_file, following=follow, filtered=row_filter != RowFilter())
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how following ends
            _follow(db_file, cursor, row_filter, as_json, poll_interval)


def _print_rows(rows: list[dict[str, Any]], db_file: Any, *, following: bool, filtered: bool) -> None:
    from rich.markup import escape

    from memproxy_cli.output import console

    if not rows and not following:
        console.print("no matching requests" if filtered else f"no requests yet [dim]({escape(str(db_file))})[/]")
        return
    # Following prints batches as they come: fixed widths keep them under one header.
    console.print(build_table(rows, fixed=following))


def _follow(db_file: Any, cursor: int, row_filter: Any, as_json: bool, poll_interval: float) -> None:
    import time

    from daemon.usage.query import newer
    from memproxy_cli.output import console

    while True:
        time.sleep(poll_interval)
        rows, cursor = newer(db_file, cursor, row_filter)
        for row in rows:
            if as_json:
                typer.echo(json.dumps(row, ensure_ascii=False), nl=True)
            else:
                console.print(build_table([row], show_header=False, fixed=True))
