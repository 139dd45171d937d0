"""`memproxy logs`: recent requests from the usage databank, newest last.

Reads the database only (never creates it) and imports nothing heavy: rich and sqlite3 are
loaded inside the command, LiteLLM, FastAPI and uvicorn never.
"""

from __future__ import annotations

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


def _short_client(user_agent: str | None) -> str:
    # "claude-cli/1.0.83 (external, cli)" -> "claude-cli/1.0.83": the product token says who it was.
    if not user_agent:
        return "–"
    head = user_agent.split()[0]
    return head if len(head) <= _CLIENT_WIDTH else head[: _CLIENT_WIDTH - 1] + "…"


def _count(n: int | None) -> str:
    """Token counts the way people say them: 950, 12.3k, 1.2M."""
    n = n or 0
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def _cache(row: dict[str, Any]) -> str:
    read, write = row.get("cache_read_tokens") or 0, row.get("cache_write_tokens") or 0
    return f"{_count(read)}/{_count(write)}" if read or write else ""


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
        _count(row.get("input_tokens")),
        _count(row.get("output_tokens")),
        _cache(row),
        _cost(row.get("cost_usd")),
        _ms(row.get("latency_ms")),
        _status(row),
    ]


def logs(
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many requests to show.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of full databank rows instead of a table.")
    ] = False,
) -> None:
    """Recent requests from the usage databank, newest last."""
    from daemon.errors import MemproxyError
    from daemon.paths import resolve_paths
    from daemon.usage_query import recent

    db_file = resolve_paths().db_file
    try:
        rows = recent(db_file, limit=count)
    except MemproxyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not rows:
        console.print(f"no requests yet [dim]({escape(str(db_file))})[/]")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("time", no_wrap=True)
    for name in ("project", "client", "model"):
        table.add_column(name, overflow="ellipsis")
    for name in ("in", "out", "cache r/w", "cost", "ms"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    today = datetime.now().astimezone().date()
    for row in rows:
        table.add_row(*row_cells(row, today))
    console.print(table)
