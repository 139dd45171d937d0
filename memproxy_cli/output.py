"""How the CLI talks to people: rich consoles for stdout/stderr and the one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear message on stderr and exit non-zero (never a traceback for a user mistake)."""
    err_console.print(f"[red]memproxy:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)
