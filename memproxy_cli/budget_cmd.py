"""`memproxy budget [set|clear]`: spending limits per project, what was spent against them.

Limits set here go to `budgets.json` in the state folder (daemon.budgets.store), never into the
user's config.yaml, and the running daemon re-reads them at once. Imports nothing heavy (no LiteLLM,
FastAPI or uvicorn): the databank is read with sqlite3.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memproxy_cli.options import ConfigOption

if TYPE_CHECKING:
    from daemon.config.settings import Settings

budget_app = typer.Typer(
    help="Spending limits per project (day, week, month; local time) and what was spent against them.",
    no_args_is_help=False,
)


@budget_app.callback(invoke_without_command=True)
def budget(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array: one object per limit.")] = False,
    config: ConfigOption = None,
) -> None:
    """Each project's limits: spent, limit, percent and when the period ends."""
    if ctx.invoked_subcommand is not None:
        return
    from daemon.config.settings import load_settings
    from memproxy_cli.output import console

    rows = budget_rows(load_settings(config_file=config))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no budgets yet — set one with [bold]memproxy budget set PROJECT --daily 5[/]")
        return
    from rich.markup import escape
    from rich.table import Table

    from daemon.budgets.table import usd

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("project", "model", "period", "spent", "limit", "used", "resets"):
        table.add_column(name, justify="right" if name in ("spent", "limit", "used") else "left")
    for row in rows:
        used = f"{row['percent']:.0f}%"
        style = "red" if row["percent"] >= 100 else "yellow" if row["percent"] >= 80 else ""
        resets = datetime.fromisoformat(row["resets_at"]).strftime("%a %d %b %H:%M")
        table.add_row(
            escape(row["project"]),
            escape(row["model"] or "all"),
            row["period"] + (" (soft)" if row["soft"] else ""),
            usd(row["spent_usd"]),
            usd(row["limit_usd"]),
            f"[{style}]{used}[/]" if style else used,
            resets,
        )
    console.print(table)


def budget_rows(settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every limit of the projects that have one (configured, set here, or the default for registered ones)."""
    from daemon.budgets.store import load_overrides

    configured = settings.budgets.default is not None or settings.budgets.projects
    if not configured and not settings.paths.budgets_file.exists():
        return []  # no budget anywhere: `status` and `ports` pay for nothing more
    from daemon.budgets.spend import budget_rows as rows_for
    from daemon.budgets.table import BudgetTable
    from interceptor.registry import load

    table = BudgetTable(settings.budgets, load_overrides(settings.paths))
    if table.empty:
        return []
    projects = set(table.named)
    if settings.budgets.default is not None:
        projects |= {*load(settings.paths), "default"}
    return rows_for(settings.paths.db_file, table, projects, now or datetime.now())


def percent_used(settings: Settings | None) -> dict[str, float]:
    """The highest percent of any limit of each project, for `status` and `ports` (none without settings)."""
    from daemon.budgets.spend import percent_by_project

    if settings is None:
        return {}
    return percent_by_project(budget_rows(settings))


@budget_app.command("set")
def set_budget(
    project: Annotated[str, typer.Argument(help="Project name (letters, digits, '.', '_', '-').")],
    daily: Annotated[
        float | None, typer.Option("--daily", min=0, metavar="USD", help="USD per day (local time).")
    ] = None,
    weekly: Annotated[
        float | None, typer.Option("--weekly", min=0, metavar="USD", help="USD per week, from Monday.")
    ] = None,
    monthly: Annotated[
        float | None, typer.Option("--monthly", min=0, metavar="USD", help="USD per calendar month.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Limit this model of the project only.")] = None,
    soft: Annotated[
        bool | None,
        typer.Option("--soft/--hard", help="Soft: the project's limits alert only, never refuse (default: hard)."),
    ] = None,
    create: Annotated[bool, typer.Option("--create", help="Register the project if it is not registered.")] = False,
    config: ConfigOption = None,
) -> None:
    """Set a project's limits (kept in the state folder's budgets.json); the daemon applies them at once."""
    from daemon.budgets.store import set_limits
    from daemon.config.settings import load_settings
    from daemon.identity import validate_project_name
    from interceptor.registry import assign, load
    from memproxy_cli.output import console, fail

    validate_project_name(project)
    limits = {k: v for k, v in (("daily", daily), ("weekly", weekly), ("monthly", monthly)) if v is not None}
    if not limits and soft is None:
        fail("give at least one of --daily, --weekly, --monthly (USD), or --soft/--hard")
    settings = load_settings(config_file=config)
    known = project == "default" or project in settings.budgets.projects or project in load(settings.paths)
    if not known:
        if not create:
            fail(
                f"no project {project} in the registry; register it with `memproxy ports assign {project}`"
                " or add --create"
            )
        number, _ = assign(settings.paths, project, settings.interceptor.port_range, None)
        console.print(f"registered [bold]{project}[/] on port {number}")
    set_limits(settings.paths, project, limits, model=model, soft=soft)
    shown = ", ".join(f"{period} ${amount:g}" for period, amount in limits.items()) or "limits kept"
    mode = "" if soft is None else (f" ({project}'s limits alert only)" if soft else f" ({project}'s limits refuse)")
    console.print(f"[green]✓[/] {project}{f' {model}' if model else ''}: {shown}{mode}")
    _tell_daemon(settings)


@budget_app.command("clear")
def clear_budget(
    project: Annotated[str, typer.Argument(help="Project name.")],
    model: Annotated[str | None, typer.Option("--model", help="Clear this model's limits only.")] = None,
    config: ConfigOption = None,
) -> None:
    """Forget the limits `budget set` gave a project (config.yaml's stay)."""
    from daemon.budgets.store import clear_limits
    from daemon.config.settings import load_settings
    from memproxy_cli.output import console, fail

    settings = load_settings(config_file=config)
    if not clear_limits(settings.paths, project, model):
        fail(f"no limits set with `memproxy budget set` for {project}{f' {model}' if model else ''}")
    console.print(f"[green]✓[/] cleared the limits set for {project}{f' {model}' if model else ''}")
    _tell_daemon(settings)


def _tell_daemon(settings: Settings) -> None:
    from interceptor.notify import post_daemon
    from memproxy_cli.output import console

    if post_daemon(settings.paths, "/memproxy/budgets/sync", settings.general_settings.master_key) is None:
        console.print("memproxy is not running; [bold]memproxy up[/] will apply it")
    else:
        console.print("[green]✓[/] the running daemon applies it now")
