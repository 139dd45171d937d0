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

from memproxy_cli.columns import Column

_CLIENT_WIDTH = 24
_REASON_LENGTH = 78  # a short reason (a line below its row); --json has it all
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


def _status(row: dict[str, Any]) -> Any:
    from rich.text import Text

    status = str(row.get("status") or "")
    http = row.get("http_status")
    # The HTTP code says what kind of failure (429, 401, 504...), so show it next to a non-ok status.
    text = f"{status} {http}" if http and status != "ok" else status
    return Text(text, style=_STATUS_STYLES.get(status, ""))


def _reason(row: dict[str, Any]) -> str:
    return short_reason(row) if row.get("status") not in ("ok", "in_flight") else ""


# by priority (memproxy_cli.columns): 0 always shown, the highest numbers left out first when narrow
_COLUMNS = (
    Column("time"),
    Column("project", 1, least=6),
    Column("client", 4, least=6),
    Column("model", least=8),
    Column("in", 3, numeric=True),
    Column("out", 2, numeric=True),
    Column("cache r/w", 6, numeric=True),
    Column("cost", numeric=True),
    Column("ms", 5, numeric=True),
    Column("status"),
)
_WIDE = 110  # under it, other days' times are MM-DD HH:MM
# what --follow sizes its columns by, so that rows printed one by one line up under one header
# (a longer status, the last column, takes what is left of the line)
_FOLLOW_SIZING = ("x" * 19, "x" * 16, "x" * 13, "x" * 22, "999.9k", "99.9k", "99.9k/9k", "$99.0000", "99,999", "x" * 9)


def row_cells(row: dict[str, Any], today: date, *, narrow: bool = False) -> list[Any]:
    """The table cells (rich Text) for one databank row, one per column of `_COLUMNS`."""
    from rich.text import Text

    plain = (
        _local_time(row.get("started_at") or "", today, narrow=narrow),
        str(row.get("project") or ""),
        _short_client(row.get("client")),
        str(row.get("model") or row.get("resolved_model") or "–"),
        human_count(row.get("input_tokens")),
        human_count(row.get("output_tokens")),
        _cache(row),
        _cost(row.get("cost_usd")),
        _ms(row.get("latency_ms")),
    )
    return [*(Text(cell) for cell in plain), _status(row)]


def table_lines(rows: list[dict[str, Any]], width: int, *, header: bool = True, follow: bool = False) -> list[Any]:
    """What to print for `rows` at `width` columns: a header, one line per row, and below a failed
    row its short reason, indented and wrapped by words (the whole text is in --json)."""
    from rich.padding import Padding
    from rich.text import Text

    from memproxy_cli.columns import fitted_lines

    narrow = width < _WIDE
    today = datetime.now().astimezone().date()
    cells = [row_cells(row, today, narrow=narrow) for row in rows]
    sizing = [("x" * (11 if narrow else 19), *_FOLLOW_SIZING[1:])] if follow else None
    lines = fitted_lines(_COLUMNS, cells, width, header=header, sizing=sizing)
    out: list[Any] = lines[:1] if header else []
    for row, line in zip(rows, lines[1:] if header else lines, strict=True):
        out.append(line)
        if reason := _reason(row):
            out.append(Padding(Text("↳ " + reason, style="dim"), (0, 0, 0, 2), expand=False))
    return out


def logs(
    ctx: typer.Context,
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
        str | None,
        typer.Option(
            "--since", "-s", help="From: 30m, 1h30m, 7d, 2w, 1mo (m is minutes), today, this-month, 2026-12 or a date."
        ),
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
    """Recent requests from the usage databank, newest last; `logs show ID` shows one whole."""
    if ctx.invoked_subcommand is not None:
        return  # `logs show ID`: the group's own listing is not wanted
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
    # Following prints batches as they come: widths sized for any row keep them under one header.
    for line in table_lines(rows, console.width, follow=following):
        console.print(line)


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
                for line in table_lines([row], console.width, header=False, follow=True):
                    console.print(line)
