"""How the CLI talks to people: rich consoles for stdout/stderr, the one way to fail, the one error boundary.

The consoles are created on first use: importing rich costs ~40 ms that `--help` should not pay.
Commands never catch `MemproxyError` themselves: `ErrorBoundary`, the class of every command
group, turns one into a message on stderr and an exit code, so it works the same under
`typer.testing.CliRunner` as from a shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from daemon.errors import MemproxyError

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made the first time something is printed."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
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

    # `Any`: typer >= 0.25 passes its vendored click's Context, older releases click's own.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MemproxyError as exc:
            fail(str(exc), getattr(exc, "exit_code", 1), plain=self.plain)


class PlainErrors(ErrorBoundary):
    """`config`'s boundary: bare `file:line: problem` lines, the way compilers print them, for editors."""

    plain = True
