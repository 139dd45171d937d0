"""`memproxy logs`: recent requests from the usage databank, newest last.

Reads the database only (never creates it) and imports nothing heavy: rich and sqlite3 are
loaded inside the command, LiteLLM, FastAPI and uvicorn never.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, datetime
from typing import Annotated, Any

import typer

_CLIENT_WIDTH = 24
_STATUS_WIDTH = 26  # the status and, below it, a failed row's reason, wrapped
_REASON_LENGTH = 78  # a short reason (about three lines of the status column); --json has it all
_URL = re.compile(r"\s*\(?\bhttps?://[^\s)]+\)?")
_UNSAID = {"client_disconnected": "the client hung up", "interrupted": "the daemon stopped mid-request"}
_STATUS_STYLES = {
    "ok": "green",
    "error": "bold red",
    "interrupted": "magenta",
    "client_disconnected": "yellow",
    "in_flight": "cyan",
}


def _local_time(started_at: str, today: date, *, narrow: bool = False) -> str:
    try:
        moment = datetime.fromisoformat(started_at).astimezone()
    except (TypeError, ValueError):
        return str(started_at)
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M" if narrow else "%Y-%m-%d %H:%M:%S")


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


def short_reason(row: dict[str, Any]) -> str:
    """Why a request failed, in a few words: its error text without URLs, cut short."""
    text = str(row.get("error") or "")
    if not text:
        return _UNSAID.get(str(row.get("status") or ""), "")
    text = " ".join(_URL.sub("", text).split())  # the URL that answered is in --json
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 1].rstrip() + "…"


def _status(row: dict[str, Any]) -> str:
    from rich.markup import escape

    status = str(row.get("status") or "")
    style = _STATUS_STYLES.get(status, "")
    http = row.get("http_status")
    # The HTTP code says what kind of failure (429, 401, 504...), so show it next to a non-ok status.
    text = f"{status} {http}" if http and status != "ok" else status
    cell = f"[{style}]{text}[/]" if style else text
    reason = short_reason(row) if status not in ("ok", "in_flight") else ""
    return f"{cell}\n[dim]{escape(reason)}[/]" if reason else cell


# the columns, and which of them a narrow terminal (under `_WIDE` columns) leaves out
_NAMES = ("time", "project", "client", "model", "in", "out", "cache r/w", "cost", "ms", "status")
_NUMERIC = frozenset({"in", "out", "cache r/w", "cost", "ms"})
_WIDE = 110
_NOT_NARROW = frozenset({"cache r/w", "ms"})
# fixed widths keep batches printed one by one (--follow) aligned; the least a named column keeps
_FIXED = dict(zip(_NAMES, (19, 16, _CLIENT_WIDTH, 22, 6, 6, 11, 9, 7, _STATUS_WIDTH), strict=True))
_LEAST = {"project": 6, "client": 6, "model": 8, "status": 23}  # "client_disconnected 499"
_NARROW_MOST = {"project": 10, "client": 8, "model": 12, "status": _STATUS_WIDTH}


def row_cells(row: dict[str, Any], today: date, *, narrow: bool = False) -> list[str]:
    """The table cells for one databank row (rich markup in the status cell)."""
    from rich.markup import escape

    cells = {
        "time": _local_time(row.get("started_at") or "", today, narrow=narrow),
        "project": escape(str(row.get("project") or "")),
        "client": escape(_short_client(row.get("client"))),
        "model": escape(str(row.get("model") or row.get("resolved_model") or "–")),
        "in": human_count(row.get("input_tokens")),
        "out": human_count(row.get("output_tokens")),
        "cache r/w": _cache(row),
        "cost": _cost(row.get("cost_usd")),
        "ms": _ms(row.get("latency_ms")),
        "status": _status(row),
    }
    return [cells[name] for name in _names(narrow)]


def _names(narrow: bool) -> tuple[str, ...]:
    return tuple(n for n in _NAMES if not (narrow and n in _NOT_NARROW))


def build_table(
    rows: list[dict[str, Any]], *, show_header: bool = True, fixed: bool = False, width: int | None = None
) -> Any:
    """A rich Table of databank rows; `fixed` column widths keep batches printed one by one aligned.

    A failed row's status cell holds its short reason below the status; under `_WIDE` columns
    (`width`) the cache and latency columns are left out so the rest stays readable at 80."""
    from rich.table import Table

    narrow = width is not None and width < _WIDE
    # narrow: one space between columns, not two
    padding = (0, 1, 0, 0) if narrow else (0, 1)
    table = Table(box=None, header_style="bold", pad_edge=False, show_header=show_header, padding=padding)
    for name in _names(narrow):
        table.add_column(
            name,
            justify="right" if name in _NUMERIC else "left",
            no_wrap=name in _NUMERIC or name == "time",
            overflow="fold" if name == "status" else "ellipsis",
            width=_FIXED[name] if fixed and not narrow else None,
            min_width=_LEAST.get(name),
            max_width=_NARROW_MOST.get(name) if narrow else (_STATUS_WIDTH if name == "status" else None),
        )
    today = datetime.now().astimezone().date()
    for row in rows:
        table.add_row(*row_cells(row, today, narrow=narrow))
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
    console.print(build_table(rows, fixed=following, width=console.width))


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
                console.print(build_table([row], show_header=False, fixed=True, width=console.width))
