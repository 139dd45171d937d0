"""How the CLI talks to people: rich consoles for stdout/stderr, the one way to fail, the one error boundary.

The consoles are created on first use: importing rich costs ~40 ms that `--help` should not pay.
Commands never catch `MemproxyError` themselves: `ErrorBoundary`, the class of every command
group, turns one into a message on stderr and an exit code, so it works the same under
`typer.testing.CliRunner` as from a shell.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from daemon.errors import MemproxyError

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made the first time something is printed.

    rich reads `COLUMNS` once, when a Console is made: one made again when it changes keeps
    commands run one after the other in a process (CliRunner, an embedding app) at their width."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None
        self._columns: str | None = None

    def __getattr__(self, name: str) -> Any:
        import os

        columns = os.environ.get("COLUMNS")
        if self._console is None or columns != self._columns:
            from rich.console import Console

            self._console, self._columns = Console(**self._options), columns
        return getattr(self._console, name)


console: Any = _LazyConsole(highlight=False)
err_console: Any = _LazyConsole(stderr=True, highlight=False)


def fail(message: str, code: int = 1, *, plain: bool = False) -> NoReturn:
    """Print one clear message on stderr and exit non-zero (never a traceback for a user mistake).

    The message is `memproxy: ` and the text, taken literally (no rich markup or emoji codes);
    `plain` prints the bare text, as `config` commands do.
    """
    if plain:
        typer.echo(message, err=True)
    else:
        from rich.text import Text

        err_console.print(Text.assemble(("memproxy:", "red"), " ", message), soft_wrap=True)
    raise typer.Exit(code)


class ErrorBoundary(TyperGroup):
    """A command group that turns a `MemproxyError` from any of its commands into `fail`.

    The exit code is 1, or the error's own `exit_code` (a wrapped command that cannot start: 126/127).
    """

    plain = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        from memproxy_cli.helpstyle import conventional

        return conventional(super().get_command(ctx, cmd_name), ctx)

    def get_params(self, ctx: Any) -> Any:
        from memproxy_cli.helpstyle import conventional

        conventional(self, ctx)
        return super().get_params(ctx)

    # `Any`: typer >= 0.25 passes its vendored click's Context, older releases click's own.
    def invoke(self, ctx: Any) -> Any:
        from daemon.config.trust import OWNER_ONLY

        # the registry, locks and databanks the CLI creates are the user's alone; the command
        # `intercept` runs keeps the user's own umask
        previous = os.umask(OWNER_ONLY)
        if ctx.invoked_subcommand == "intercept":
            os.umask(previous)
        try:
            return super().invoke(ctx)
        except MemproxyError as exc:
            fail(str(exc), getattr(exc, "exit_code", 1), plain=self.plain)
        except BrokenPipeError:
            quiet_broken_pipe()
        finally:
            os.umask(previous)


def quiet_broken_pipe() -> NoReturn:
    """The reader of stdout went away (`memproxy ports | head -1`): the command's work is done (a
    command changes things before it prints); what is left to print is dropped, with no traceback
    and no "Exception ignored" when Python flushes stdout at exit. Exit 0, as the output was taken."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    raise SystemExit(0)


class PlainErrors(ErrorBoundary):
    """`config`'s boundary: bare `file:line: problem` lines, the way compilers print them, for editors."""

    plain = True
