"""`memproxy intercept`: run a command against a project's port, or that port's forwarder on its own.

With CMD the daemon hosts the port (started if needed) and CMD runs with SPEC's environment.
Without CMD this process is the interceptor, forwarding to `--gateway` (a team's gateway on
another machine, say) until Ctrl-C.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memproxy_cli.options import ConfigOption

if TYPE_CHECKING:
    from daemon.config.settings import Settings

PORT_WAIT_S = 5.0

# Everything from CMD on is CMD's own (`intercept claude -p hi` and `intercept -- claude -p hi` alike).
CONTEXT = {"allow_interspersed_args": False}


def intercept(
    project: Annotated[
        str | None,
        typer.Option(
            "--project", "-p", help="Project name (default: the git repository or folder of the current folder)."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="With CMD: register the project on this port. Alone: listen on this port."),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option("--gateway", help="Gateway URL to forward to, without CMD (default: the local daemon)."),
    ] = None,
    config: ConfigOption = None,
    cmd: Annotated[list[str] | None, typer.Argument(help="The command to run, after `--`.", show_default=False)] = None,
) -> None:
    """Run CMD with its OpenAI/Anthropic base URLs pointed at the project's port; without CMD, serve that port."""
    from daemon.config.settings import load_settings
    from interceptor.wrap import default_project
    from memproxy_cli.output import fail

    settings = load_settings(config_file=config)
    name = project if project is not None else default_project(Path.cwd())
    if not cmd:
        serve_foreground(settings, name, port, gateway)
        return
    if gateway is not None:
        fail("--gateway is for the interceptor on its own (without CMD); with CMD the local daemon forwards")
    # A command that cannot start (CommandFailed) exits 126/127 through the CLI's error boundary.
    raise typer.Exit(run_command(settings, name, port, cmd, config))


def run_command(settings: Settings, project: str, port: int | None, cmd: list[str], config: Path | None) -> int:
    """Daemon up, project registered and listening, then CMD with SPEC's environment; CMD's exit code."""
    import os

    from daemon.errors import MemproxyError
    from daemon.identity import validate_project_name
    from daemon.lifecycle import ensure_running, running_daemon
    from interceptor.notify import notify_daemon, project_state
    from interceptor.registry import assign
    from interceptor.tool_config import tool_env
    from interceptor.wrap import command_client, run_wrapped, wrapped_command, wrapped_env

    validate_project_name(project)
    started = running_daemon(settings.paths) is None
    ensure_running(config)
    number, _created = assign(settings.paths, project, settings.interceptor.port_range, port)
    result = notify_daemon(settings.paths, settings.general_settings.master_key)
    state = (project_state(result, project) if result is not None else None) or {}
    if state.get("error"):
        raise MemproxyError(f"the daemon cannot listen on port {number} for {project}: {state['error']}")
    if not wait_for_port(number, PORT_WAIT_S):
        raise MemproxyError(f"port {number} of project {project} does not accept connections after {PORT_WAIT_S:.0f} s")
    client = command_client(cmd)  # travels in CMD's base URLs, so its rows say which tool it was
    env = wrapped_env(os.environ, number, project, client, key=port_key(settings))
    # opencode and llm know only the models they are told of: given the port's, in their own terms
    env.update(tool_env(env, number, project, client, settings.paths.state_dir))
    code = run_wrapped(wrapped_command(cmd, number, project, client), env)
    if started:  # said after CMD, whose screen it would clutter: the daemon outlives it
        gs = settings.general_settings
        typer.echo(
            f"memproxy: the daemon started for this command keeps running at http://{gs.host}:{gs.port}"
            " (`memproxy down` stops it)",
            err=True,
        )
    return code


def port_key(settings: Settings) -> str | None:
    """The key a project port requires (`interceptor.auth: token`), or None when it takes any."""
    from interceptor.port_token import port_token

    return port_token(settings.paths) if settings.interceptor.auth == "token" else None


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    """True once host:port accepts a TCP connection, False after `timeout` seconds."""
    from daemon.sockets import port_accepts

    deadline = time.monotonic() + timeout
    while True:
        if port_accepts(port, host):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def serve_foreground(settings: Settings, project: str, port: int | None, gateway: str | None) -> None:
    """Be `project`'s interceptor in this process until Ctrl-C."""
    import asyncio

    import uvicorn

    from daemon.identity import validate_project_name
    from daemon.sockets import bind_listener
    from interceptor.forwarder import make_forwarder, make_gateway_client
    from interceptor.registry import assign
    from memproxy_cli.output import console

    general = settings.general_settings
    target = (gateway or f"http://{_url_host(general.host)}:{general.port}").rstrip("/")
    validate_project_name(project)
    # An explicit port is just where this one-off forwarder listens; the registry is for the daemon.
    number = port if port is not None else assign(settings.paths, project, settings.interceptor.port_range)[0]
    sock = bind_listener("127.0.0.1", number)
    console.print(f"memproxy interceptor for [bold]{project}[/] on http://127.0.0.1:{number} → {target} (Ctrl-C stops)")

    async def serve() -> None:
        async with make_gateway_client() as client, make_gateway_client(fresh=True) as fresh:
            app = make_forwarder(
                project,
                target,
                client,
                general.master_key,
                max_body_bytes=general.max_body_bytes,
                body_timeout=general.body_timeout,
                token=port_key(settings),
                fresh=fresh,  # a request sent again after a dead kept-alive connection gets a new one
            )
            config = uvicorn.Config(
                app,
                lifespan="off",
                access_log=False,
                log_level="warning",
                proxy_headers=False,
                server_header=False,
                date_header=False,
                timeout_graceful_shutdown=5,
            )
            await uvicorn.Server(config).serve(sockets=[sock])

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it drained on; stopping is the normal end here
        pass
    finally:
        sock.close()
    console.print("interceptor stopped")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
