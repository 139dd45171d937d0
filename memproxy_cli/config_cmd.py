"""`memproxy config init|show|validate|path|schema` (placeholder; being written)."""

from __future__ import annotations

import typer

config_app = typer.Typer(help="Write, show, validate and locate the config file.", no_args_is_help=True)
