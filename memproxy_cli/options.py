"""Options several commands share, declared once so their name and help never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", metavar="FILE", help="Config file to use (default: $MEMPROXY_CONFIG or the user config dir)."
    ),
]
