"""The `memproxy` Typer app. Commands are thin and import heavy libraries lazily.

`memproxy --help`, `status`, `ports`, `logs`, `stats` and `config *` must not import LiteLLM,
FastAPI or uvicorn: each command module keeps those imports inside the functions that need them.
Commands let a `MemproxyError` go: the app's `ErrorBoundary` prints it and sets the exit code.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from memproxy_cli import daemon_cmd
from memproxy_cli.budget_cmd import budget_app
from memproxy_cli.config_cmd import config_app
from memproxy_cli.db_cmd import db_app
from memproxy_cli.doctor_cmd import doctor
from memproxy_cli.helpfast import asks_for_help, prepare_help
from memproxy_cli.intercept_cmd import CONTEXT, intercept
from memproxy_cli.logs_cmd import logs
from memproxy_cli.memory_cmd import memory_app
from memproxy_cli.output import ErrorBoundary
from memproxy_cli.ports_cmd import ports_app
from memproxy_cli.show_cmd import show
from memproxy_cli.stats_cmd import stats

if asks_for_help(sys.argv):
    prepare_help()  # before Typer imports its help renderer: rich modules memproxy's help never uses stay out

app = typer.Typer(
    cls=ErrorBoundary,
    name="memproxy",
    help="A local LLM gateway: every AI tool, every project, one port each, every request costed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from daemon import __version__

        typer.echo(f"memproxy {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """A local LLM gateway: every AI tool, every project, one port each, every request costed."""


app.command()(daemon_cmd.up)
app.command()(daemon_cmd.down)
app.command()(daemon_cmd.restart)
app.command()(daemon_cmd.status)
app.command()(doctor)
app.add_typer(config_app, name="config")
logs_app = typer.Typer(cls=ErrorBoundary, invoke_without_command=True, no_args_is_help=False)
logs_app.callback(help="Recent requests from the usage databank, newest last; `logs show ID` shows one whole.")(logs)
logs_app.command()(show)
app.add_typer(logs_app, name="logs")
app.add_typer(ports_app, name="ports")
app.command(context_settings=CONTEXT)(intercept)
app.add_typer(memory_app, name="memory")
app.add_typer(db_app, name="db")
app.add_typer(budget_app, name="budget")
app.command(help="Requests, tokens, cost, p50/p95 latency and error rate per group, with a total.")(stats)
