"""`memproxy up | down | restart | status`: thin commands over `daemon.lifecycle`.

Only `up --foreground` (which runs the server here) imports LiteLLM/FastAPI/uvicorn; `status`
reads the pid/state files, probes `/health` with the stdlib and reads the databank read-only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memproxy_cli.options import ConfigOption
from memproxy_cli.output import console, err_console

if TYPE_CHECKING:
    from daemon.config.settings import Settings


def _settings(config: Path | None, host: str | None = None, port: int | None = None) -> Settings:
    from daemon.config.settings import load_settings

    return load_settings(config_file=config, host=host, port=port)


def up(
    port: Annotated[int | None, typer.Option("--port", help="Gateway port (default 8764).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    config: ConfigOption = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal (systemd, launchd, debugging).")
    ] = False,
) -> None:
    """Start the gateway daemon in the background and print its URL."""
    if foreground:
        from daemon.server import run

        run(config, host, port)
        return
    from daemon.lifecycle import start_daemon

    info, started = start_daemon(
        config, host, port, waiting=lambda: err_console.status("Starting memproxy…", spinner="dots")
    )
    if started:
        console.print(f"[green]✓[/] memproxy is up at [bold]{info.url}[/] (pid {info.pid})")
    else:
        console.print(f"memproxy is already running at [bold]{info.url}[/] (pid {info.pid})")
    _print_projects()
    console.print(f"  OpenAI base URL:    {info.url}/v1\n  Anthropic base URL: {info.url}")


def _print_projects() -> None:
    for project in _projects():
        state = "listening" if project["listening"] else "not listening"
        console.print(f"  project {project['name']}: http://127.0.0.1:{project['port']} ({state})")


def _projects() -> list[dict[str, Any]]:
    """Registered projects with their ports (empty until the interceptor registry exists)."""
    try:
        from interceptor.registry import load
    except ImportError:
        return []
    from daemon.config.paths import resolve_paths
    from daemon.errors import MemproxyError
    from daemon.lifecycle import read_daemon_info
    from daemon.sockets import daemon_listens

    paths = resolve_paths()
    try:
        registry = load(paths)
    except MemproxyError:
        return []
    info = read_daemon_info(paths)
    pid = info.pid if info else None
    return [{"name": n, "port": p, "listening": daemon_listens(p, pid)} for n, p in sorted(registry.items())]


def down(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to let in-flight requests finish.")] = 10.0,
) -> None:
    """Stop the daemon gracefully: stop accepting, drain in-flight requests, flush the databank."""
    from daemon.config.paths import resolve_paths
    from daemon.lifecycle import stop_daemon

    pid = stop_daemon(
        resolve_paths(),
        timeout=timeout,
        waiting=lambda: err_console.status("memproxy is starting; waiting to stop it…", spinner="dots"),
    )
    if pid is None:
        console.print("memproxy is not running")
    else:
        console.print(f"[green]✓[/] memproxy stopped (pid {pid})")


def restart(
    config: ConfigOption = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to let in-flight requests finish.")] = 10.0,
) -> None:
    """Stop the daemon (if running) and start it again on the same address with the same config."""
    from daemon.config.paths import resolve_paths
    from daemon.errors import MemproxyError
    from daemon.lifecycle import read_daemon_info

    info = read_daemon_info(resolve_paths(config_file=config))
    port = host = None
    if info is not None:
        port, host = info.port, info.host
        config = config or (Path(info.config_path) if info.config_path else None)
    try:
        _settings(config, host, port)  # a broken config must not cost the running daemon
    except MemproxyError as exc:
        raise MemproxyError(f"{exc}\nthe running daemon was left as it is") from exc
    down(timeout=timeout)
    up(port=port, host=host, config=config, foreground=False)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    config: ConfigOption = None,
) -> None:
    """Whether the daemon runs, where, with which models and projects, and today's requests and cost."""
    report = _status_report(config)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_status(report)


def _status_report(config: Path | None) -> dict[str, Any]:
    from daemon import __version__
    from daemon.config.paths import resolve_paths
    from daemon.errors import ConfigError, DatabankError
    from daemon.lifecycle import running_daemon, unchanged_validation
    from daemon.usage.query import totals_by_project
    from daemon.usage.record import iso_utc
    from daemon.usage.spool import count_rows, spool_path
    from memproxy_cli.timespec import parse_timespec

    paths = resolve_paths(config_file=config)
    found = running_daemon(paths)
    models: list[str] = []
    budgets: list[dict[str, Any]] = []
    config_error = budgets_error = None
    validated = unchanged_validation(found[0], paths) if found is not None else None
    if found is not None and validated is not None:  # the daemon validated this very file: no pydantic
        models, host, port = list(validated["models"]), found[0].host, found[0].port
    else:
        try:
            settings = _settings(config)
            models = [m.model_name for m in settings.model_list]
            host, port = settings.general_settings.host, settings.general_settings.port
        except ConfigError as exc:
            host, port, config_error = "127.0.0.1", 8764, str(exc)
        else:
            from memproxy_cli.budget_cmd import budget_rows

            try:
                budgets = budget_rows(settings)  # each limit: spent, percent, when it resets
            except (ConfigError, DatabankError) as exc:  # a damaged budgets.json: the models are still known
                budgets_error = str(exc)
    unreadable = None
    try:
        today = totals_by_project(paths.db_file, iso_utc(parse_timespec("today")))
        month = totals_by_project(paths.db_file, iso_utc(parse_timespec("this-month")))
    except DatabankError as exc:  # still say what runs: a damaged databank is one more thing to report
        today, month, unreadable = [], [], str(exc)
    spooled = count_rows(spool_path(paths.db_file))
    report: dict[str, Any] = {
        "running": found is not None,
        "status": "not running",
        "reason": unreadable,
        "databank": {"rows_spooled": spooled, "spool": str(spool_path(paths.db_file))},
        "pid": None,
        "url": f"http://{host}:{port}",
        "port": port,
        "version": __version__,
        "uptime_s": None,
        "config_path": str(paths.config_file),
        "config_exists": paths.config_file.exists(),
        "db_path": str(paths.db_file),
        "log_path": str(paths.log_file),
        "models": models,
        "config_error": config_error,
        "projects": _projects(),
        "today": _totals(today),
        "month": _totals(month),  # month to date, local time
        "budgets": budgets,
        "budgets_error": budgets_error,
    }
    if found is not None:
        info, health = found
        report.update(pid=info.pid, url=info.url, port=info.port, version=health.get("version", info.version))
        report["uptime_s"] = round(time.time() - info.started_at, 1)
        # healthy, or degraded with the reason and the rows waiting (daemon.usage.writer.health)
        report["status"] = health.get("status", "healthy")
        report["reason"] = health.get("reason") or unreadable
        report["databank"] = health.get("databank", report["databank"])
        if info.config_path:
            report["config_path"] = info.config_path
    elif spooled:
        waiting = f"{spooled} usage row(s) wait in the spool; the next `memproxy up` writes them"
        report["reason"] = f"{unreadable}; {waiting}" if unreadable else waiting
    return report


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests": sum(r["requests"] for r in rows),
        "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
        "by_project": rows,
    }


def _print_costs(today: dict[str, Any], month: dict[str, Any]) -> None:
    """Today's and this month's cost, in all and per project (a project with no request this month is left out)."""
    console.print(
        f"  cost:     today ${today['cost_usd']:.4f} ({today['requests']} requests),"
        f" this month ${month['cost_usd']:.4f} ({month['requests']} requests)"
    )
    todays = {row["project"]: row for row in today["by_project"]}
    width = max((len(row["project"]) for row in month["by_project"]), default=0)
    for row in month["by_project"]:
        spent = todays.get(row["project"], {"cost_usd": 0.0})["cost_usd"]
        console.print(
            f"            {row['project']:<{width}}  today ${spent:.4f}  this month ${row['cost_usd']:.4f}",
            highlight=False,
        )


def _duration(seconds: float | None) -> str:
    """An uptime as a person says it: 42 s, 7 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _print_list(label: str, items: list[str]) -> None:
    """`  label   a, b, c` wrapped at the terminal's width, continued under the first item."""
    import textwrap

    first, rest = f"  {label:<10}", " " * 12
    text = ", ".join(items) or "none"
    width = max(console.width, 40)
    lines = textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)
    for line in lines:
        console.print(line, markup=False, highlight=False)


def _print_status(report: dict[str, Any]) -> None:
    if report["running"]:
        where = f"[bold]{report['url']}[/] (pid {report['pid']}, up {_duration(report['uptime_s'])})"
        console.print(f"[green]●[/] memproxy {report['version']} is running at {where}")
    else:
        console.print("[red]○[/] memproxy is not running — start it with [bold]memproxy up[/]")
    if report["status"] == "degraded":
        console.print(f"  [yellow]degraded:[/] {report['reason']}")
    elif report["reason"]:
        console.print(f"  [yellow]note:[/] {report['reason']}")
    # an explicit config (--config, MEMPROXY_CONFIG) that is missing is an error, not the defaults
    missing = " (not found)" if report["config_error"] else " (not found: built-in defaults)"
    config_note = "" if report["config_exists"] else missing
    console.print(f"  config:   {report['config_path']}{config_note}")
    console.print(f"  databank: {report['db_path']}")
    if report["config_error"]:
        console.print(f"  models:   unknown: the config cannot be read ({report['config_error']})", markup=False)
    else:
        _print_list("models:", report["models"])
    for project in report["projects"]:
        state = "[green]listening[/]" if project["listening"] else "[red]not listening[/]"
        console.print(f"  project {project['name']}: port {project['port']} {state}")
    _print_costs(report["today"], report["month"])
    if report.get("budgets_error"):
        console.print(f"  budgets:  cannot be read ({report['budgets_error']})", markup=False)
    for row in report.get("budgets", []):
        model = f" {row['model']}" if row["model"] else ""
        console.print(
            f"  budget:   {row['project']}{model} {row['percent']:.0f}% of ${row['limit_usd']:g} {row['period']}"
            f"{' (soft)' if row['soft'] else ''}",
            highlight=False,
            markup=False,
        )
