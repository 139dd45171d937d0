"""How the CLI talks to people: rich consoles for stdout/stderr and the one way to fail.

The consoles are created on first use: importing rich costs ~40 ms that `--help` should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer

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


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear message on stderr and exit non-zero (never a traceback for a user mistake)."""
    err_console.print(f"[red]memproxy:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)
