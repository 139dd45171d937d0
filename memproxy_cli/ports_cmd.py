"""`memproxy ports [assign|release]`: the project → port registry.

Reads and writes the registry file and tells a running daemon; imports nothing heavy (no LiteLLM,
FastAPI or uvicorn), and everything but typer only inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memproxy_cli.options import ConfigOption

if TYPE_CHECKING:
    from daemon.config.settings import Settings

ports_app = typer.Typer(
    help="Projects and their interceptor ports: one port per project, stable across restarts.",
    no_args_is_help=False,
)


@ports_app.callback(invoke_without_command=True)
def ports(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array of {name, port, listening, ...}.")] = False,
) -> None:
    """List the registered projects, their ports, whether they listen, today's requests and cost, and
    the month-to-date cost."""
    if ctx.invoked_subcommand is not None:
        return
    from memproxy_cli.output import console

    rows = project_rows()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no projects yet — register one with [bold]memproxy ports assign NAME[/]")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("project")
    table.add_column("port", justify="right")
    table.add_column("listening")
    table.add_column("requests today", justify="right")
    table.add_column("cost today", justify="right")
    table.add_column("this month", justify="right")
    table.add_column("budget", justify="right")
    for row in rows:
        listening = "[green]yes[/]" if row["listening"] else "[red]no[/]"
        cells = (str(row["port"]), listening, str(row["requests"]), f"${row['cost_usd']:.4f}")
        budget = "–" if row["budget_percent"] is None else f"{row['budget_percent']:.0f}%"
        table.add_row(escape(row["name"]), *cells, f"${row['month_cost_usd']:.4f}", budget)
    console.print(table)


def project_rows() -> list[dict[str, Any]]:
    """One row per registered project: name, port, listening, today's requests and cost, and the month's cost."""
    from daemon.config.paths import resolve_paths
    from daemon.lifecycle import read_daemon_info, unchanged_validation
    from daemon.sockets import daemon_listens
    from daemon.usage.query import totals_by_project
    from daemon.usage.record import iso_utc
    from interceptor.registry import load
    from memproxy_cli.timespec import parse_timespec

    paths = resolve_paths()
    registry = load(paths)
    info = read_daemon_info(paths)
    pid = info.pid if info else None

    def totals(since: str) -> dict[str, dict[str, Any]]:
        return {row["project"]: row for row in totals_by_project(paths.db_file, iso_utc(parse_timespec(since)))}

    today, month = (totals("today"), totals("this-month")) if registry else ({}, {})
    # a running daemon that validated this very file and found no budget: nothing to read (no pydantic)
    no_budgets = info is not None and pid is not None and unchanged_validation(info, paths) is not None
    used = _budget_percent() if registry and not no_budgets else {}
    return [
        {
            "name": name,
            "port": port,
            "listening": daemon_listens(port, pid),
            "requests": today.get(name, {}).get("requests", 0),
            "cost_usd": round(today.get(name, {}).get("cost_usd", 0.0), 6),
            # month to date, local time, as `stats` and `status` count it
            "month_cost_usd": round(month.get(name, {}).get("cost_usd", 0.0), 6),
            # the highest share of any of its budget limits (None: no budget), as `memproxy budget` shows
            "budget_percent": used.get(name),
        }
        for name, port in sorted(registry.items())
    ]


def _budget_percent() -> dict[str, float]:
    """Each project's highest budget percent; none when the config cannot be read (`status` says why)."""
    from daemon.config.settings import load_settings
    from daemon.errors import ConfigError
    from memproxy_cli.budget_cmd import percent_used

    try:
        return percent_used(load_settings())
    except ConfigError:
        return {}


@ports_app.command()
def assign(
    project: Annotated[str, typer.Argument(help="Project name (letters, digits, '.', '_', '-').")],
    port: Annotated[
        int | None, typer.Option("--port", help="Move the project to this port (within interceptor.port_range).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Register a project (or move it to --port), print its port and how to point tools at it."""
    from daemon.config.settings import load_settings
    from interceptor.registry import assign as assign_port
    from memproxy_cli.output import console

    settings = load_settings(config_file=config)
    number, created = assign_port(settings.paths, project, settings.interceptor.port_range, port)
    # the daemon is told before anything is printed: `ports assign X | head -1` closes stdout after
    # the first line, and the rest must not decide whether X listens
    told = tell_daemon(settings, project)
    console.print(f"[bold]{project}[/] → port [bold]{number}[/]" + (" (new)" if created else ""))
    typer.echo(recipe(project, number, token=settings.interceptor.auth == "token"))
    told()


def recipe(project: str, port: int, *, token: bool = False) -> str:
    """Copy-paste settings that point tools and IDEs at `port` (`token`: the port requires the port token)."""
    url = f"http://127.0.0.1:{port}"
    key = (
        "the port token (`memproxy ports token` prints it; interceptor.auth: token)"
        if token
        else "any text (e.g. memproxy); the gateway holds the real keys"
    )
    any_key = "the port token" if token else "any API key"
    keys = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
    shell_key = "    export " + " ".join(f'{k}="$(memproxy ports token)"' for k in keys) + "\n" if token else ""
    return (
        f"  OpenAI-compatible base URL: {url}/v1\n"
        f"  Anthropic base URL:         {url}\n"
        f"  API key:                    {key}\n"
        "\n"
        "  Shell:\n"
        f"    export OPENAI_BASE_URL={url}/v1\n"
        f"    export OPENAI_API_BASE={url}/v1\n"
        f"    export ANTHROPIC_BASE_URL={url}\n"
        f"{shell_key}"
        "  Wrap one command:\n"
        f"    memproxy intercept --project {project} -- claude\n"
        "  PyCharm AI Assistant: Settings → Tools → AI Assistant → Providers & API keys →\n"
        f"    Third-party AI providers: OpenAI-compatible, URL {url}/v1, {any_key}\n"
        "  More tools: docs/recipes.md"
    )


def tell_daemon(settings: Settings, project: str, released: bool = False) -> Callable[[], None]:
    """Make the running daemon listen (or stop listening) now; what it said, to print after the rest
    (which fails if the daemon could not do it)."""
    from daemon.errors import MemproxyError
    from interceptor.notify import notify_daemon, project_state
    from memproxy_cli.output import console, fail

    try:
        result = notify_daemon(settings.paths, settings.general_settings.master_key)
        state = project_state(result, project) if result is not None else None
    except MemproxyError as exc:
        problem = exc

        def failed() -> None:
            raise problem

        return failed

    def report() -> None:
        if result is None:
            if not released:
                console.print("memproxy is not running; [bold]memproxy up[/] will listen on it")
            return
        if state is not None and state.get("error"):
            port, error = state["port"], state["error"]
            fail(f"{project} is registered on port {port}, but the daemon cannot listen on it: {error}")
        if state is not None and state.get("listening"):
            console.print(f"[green]✓[/] the daemon listens on http://127.0.0.1:{state['port']}")
        elif released:
            console.print("[green]✓[/] the daemon stopped listening on it")

    return report


@ports_app.command()
def token(config: ConfigOption = None) -> None:
    """Print the port token project ports require with `interceptor.auth: token` (an IDE's API key)."""
    from daemon.config.settings import load_settings
    from interceptor.port_token import port_token
    from memproxy_cli.output import fail

    settings = load_settings(config_file=config)
    if settings.interceptor.auth != "token":
        fail(
            "project ports take any key: set `interceptor: {auth: token}` (and general_settings.master_key) "
            "to make them require the port token"
        )
    typer.echo(port_token(settings.paths.ensure()))


@ports_app.command()
def release(
    project: Annotated[str, typer.Argument(help="Project name.")],
    config: ConfigOption = None,
) -> None:
    """Unregister a project; its port stops listening."""
    from daemon.config.settings import load_settings
    from interceptor.registry import release as release_port
    from memproxy_cli.output import console

    settings = load_settings(config_file=config)
    port = release_port(settings.paths, project)
    if port is None:
        from memproxy_cli.output import fail

        fail(f"no project {project} in the registry (see `memproxy ports`)")
    told = tell_daemon(settings, project, released=True)
    console.print(f"released {project} (port {port})")
    told()
