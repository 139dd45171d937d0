"""`memproxy up | down | restart | status`: thin commands over `daemon.lifecycle`.

Only `up --foreground` (which runs the server here) imports LiteLLM/FastAPI/uvicorn; `status`
reads the pid/state files, probes `/health` with the stdlib and reads the databank read-only.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memproxy_cli.output import console, err_console, fail

if TYPE_CHECKING:
    from daemon.config.settings import Settings
    from daemon.lifecycle import DaemonInfo

START_TIMEOUT_S = 90.0

ConfigOpt = Annotated[
    str | None, typer.Option("--config", help="Config file (default: MEMPROXY_CONFIG or the user config dir).")
]


def _settings(config: str | None, host: str | None = None, port: int | None = None) -> Settings:
    from daemon.config.settings import load_settings

    return load_settings(config_file=config, host=host, port=port)


def _server_args(config: str | None, host: str | None, port: int | None) -> list[str]:
    args: list[str] = []
    if config:
        from pathlib import Path

        args += ["--config", str(Path(config).expanduser().resolve())]
    if host:
        args += ["--host", host]
    if port:
        args += ["--port", str(port)]
    return args


def start_daemon(
    config: str | None = None, host: str | None = None, port: int | None = None
) -> tuple[DaemonInfo, bool]:
    """Start the daemon unless one runs; (its info, whether this call started it). Raises MemproxyError."""
    from filelock import FileLock

    from daemon.errors import DaemonStartError, PortInUse
    from daemon.lifecycle import read_daemon_info, running_daemon, spawn_daemon, wait_until_healthy
    from daemon.sockets import port_is_free, who_holds

    settings = _settings(config, host, port)  # a broken config is refused here, with file and line
    paths = settings.paths.ensure()
    general = settings.general_settings
    # One `up` at a time checks and spawns: ten concurrent `up`s start one daemon.
    with FileLock(str(paths.start_lock_file), timeout=START_TIMEOUT_S):
        found = running_daemon(paths)
        if found is not None:
            return found[0], False
        stale = read_daemon_info(paths)
        if stale is not None:
            raise DaemonStartError(
                f"a memproxy daemon (pid {stale.pid}) is running but not answering on {stale.url}; "
                "run `memproxy down` first"
            )
        if not port_is_free(general.host, general.port):
            raise PortInUse(f"port {general.port} on {general.host} is already in use by {who_holds(general.port)}")
        proc = spawn_daemon(paths, _server_args(config, host, port))
        with err_console.status("Starting memproxy…", spinner="dots"):
            info, _health = wait_until_healthy(paths, proc, START_TIMEOUT_S)
        return info, True


def ensure_running(config: str | None = None) -> DaemonInfo:
    """The running daemon's info, starting it first if needed (used by `intercept`)."""
    return start_daemon(config)[0]


def up(
    port: Annotated[int | None, typer.Option("--port", help="Gateway port (default 8764).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    config: ConfigOpt = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal (systemd, launchd, debugging).")
    ] = False,
) -> None:
    """Start the gateway daemon in the background and print its URL."""
    from daemon.errors import MemproxyError

    try:
        if foreground:
            from daemon.server import serve

            settings = _settings(config, host, port)
            settings.paths.ensure()
            serve(settings)
            return
        info, started = start_daemon(config, host, port)
    except MemproxyError as exc:
        fail(str(exc))
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
    from daemon.sockets import port_accepts

    try:
        registry = load(resolve_paths())
    except MemproxyError:
        return []
    return [{"name": name, "port": port, "listening": port_accepts(port)} for name, port in sorted(registry.items())]


def down(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to let in-flight requests finish.")] = 10.0,
) -> None:
    """Stop the daemon gracefully: stop accepting, drain in-flight requests, flush the databank."""
    from daemon.config.paths import resolve_paths
    from daemon.lifecycle import stop_daemon

    pid = stop_daemon(resolve_paths(), timeout=timeout)
    if pid is None:
        console.print("memproxy is not running")
    else:
        console.print(f"[green]✓[/] memproxy stopped (pid {pid})")


def restart(
    config: ConfigOpt = None,
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
        config = config or info.config_path
    try:
        _settings(config, host, port)  # a broken config must not cost the running daemon
    except MemproxyError as exc:
        fail(f"{exc}\nthe running daemon was left as it is")
    down(timeout=timeout)
    up(port=port, host=host, config=config, foreground=False)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Whether the daemon runs, where, with which models and projects, and today's requests and cost."""
    from daemon.errors import MemproxyError

    try:
        report = _status_report(config)
    except MemproxyError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_status(report)


def _status_report(config: str | None) -> dict[str, Any]:
    from daemon import __version__
    from daemon.config.paths import resolve_paths
    from daemon.errors import ConfigError
    from daemon.lifecycle import running_daemon
    from daemon.usage.query import totals_by_project

    paths = resolve_paths(config_file=config)
    found = running_daemon(paths)
    models: list[str] = []
    try:
        settings = _settings(config)
        models = [m.model_name for m in settings.model_list]
        host, port = settings.general_settings.host, settings.general_settings.port
    except ConfigError:
        host, port = "127.0.0.1", 8764
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    today = totals_by_project(paths.db_file, midnight.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    report: dict[str, Any] = {
        "running": found is not None,
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
        "projects": _projects(),
        "today": {
            "requests": sum(r["requests"] for r in today),
            "cost_usd": round(sum(r["cost_usd"] for r in today), 6),
            "by_project": today,
        },
    }
    if found is not None:
        info, health = found
        report.update(pid=info.pid, url=info.url, port=info.port, version=health.get("version", info.version))
        report["uptime_s"] = round(time.time() - info.started_at, 1)
        if info.config_path:
            report["config_path"] = info.config_path
    return report


def _print_status(report: dict[str, Any]) -> None:
    if report["running"]:
        where = f"[bold]{report['url']}[/] (pid {report['pid']}, up {report['uptime_s']} s)"
        console.print(f"[green]●[/] memproxy {report['version']} is running at {where}")
    else:
        console.print("[red]○[/] memproxy is not running — start it with [bold]memproxy up[/]")
    config_note = "" if report["config_exists"] else " (not found: built-in defaults)"
    console.print(f"  config:   {report['config_path']}{config_note}")
    console.print(f"  databank: {report['db_path']}")
    console.print(f"  models:   {', '.join(report['models']) or 'none'}")
    for project in report["projects"]:
        state = "[green]listening[/]" if project["listening"] else "[red]not listening[/]"
        console.print(f"  project {project['name']}: port {project['port']} {state}")
    today = report["today"]
    console.print(f"  today:    {today['requests']} requests, ${today['cost_usd']:.4f}")
    for row in today["by_project"]:
        console.print(f"            {row['project']}: {row['requests']} requests, ${row['cost_usd']:.4f}")
