"""`memproxy config init|show|validate|path|schema`: write, show, check and locate config.yaml.

Only typer and memproxy's light modules are imported at the top: these commands must stay fast and
must never pull in LiteLLM, FastAPI or uvicorn. pydantic, yaml and rich are imported where used.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.config.paths import Paths, resolve_paths
from memproxy_cli.options import ConfigOption
from memproxy_cli.output import PlainErrors, fail

if TYPE_CHECKING:
    from daemon.config.settings import Settings

# Errors here are bare `file:line: problem` lines (PlainErrors), without the `memproxy:` prefix.
config_app = typer.Typer(
    cls=PlainErrors, help="Write, show, validate and locate the config file.", no_args_is_help=True
)


def _paths(config: Path | None) -> Paths:
    return resolve_paths(dict(os.environ), config)


def _load(config: Path | None) -> Settings:
    from daemon.config.settings import load_settings

    return load_settings(config_file=config)


def _warn(settings: Settings) -> None:
    for warning in settings.warnings:
        typer.echo(f"warning: {warning}", err=True)


@config_app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a commented default config file."""
    from daemon.config.settings import DEFAULT_CONFIG_TEXT

    path = _paths(config).config_file
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it", plain=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and swapped in, so a failed write never leaves half a config.
        # 0600: the file is where the master key and provider keys are kept.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(DEFAULT_CONFIG_TEXT)
        os.replace(tmp, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", plain=True)
    typer.echo(f"✓ wrote {path}")


@config_app.command()
def show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show the resolved config (file, environment and defaults merged), secrets masked."""
    settings = _load(config)
    data = settings.masked_dict()
    _warn(settings)
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    import yaml

    source = (
        f"# resolved from {settings.config_path}"
        if settings.config_path
        else f"# no config file at {settings.paths.config_file}: built-in defaults"
    )
    text = f"{source} (secrets masked)\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    _print_yaml(text)


def _print_yaml(text: str) -> None:
    if not sys.stdout.isatty():
        # Plain text when piped: rich would wrap long lines at its default width and break the YAML.
        typer.echo(text, nl=False)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text, "yaml", background_color="default", word_wrap=True))


@config_app.command()
def validate(config: ConfigOption = None) -> None:
    """Check the config file; print each problem with its file and line."""
    settings = _load(config)
    if settings.config_path is None:
        typer.echo(f"✓ no config file at {settings.paths.config_file}; the built-in defaults are valid")
    else:
        typer.echo(f"✓ {settings.config_path} is valid")
    for warning in settings.warnings:
        typer.echo(f"  warning: {warning}")


@config_app.command()
def path(config: ConfigOption = None) -> None:
    """Print the path of the config file memproxy uses."""
    paths = _paths(config)
    typer.echo(str(paths.config_file))
    if not paths.config_file.exists():
        explicit = config is not None or bool(os.environ.get("MEMPROXY_CONFIG"))
        note = (
            "(does not exist; create it with `memproxy config init`)"
            if explicit
            else "(does not exist; memproxy uses built-in defaults)"
        )
        typer.echo(note, err=True)


@config_app.command()
def schema(config: ConfigOption = None) -> None:
    """Print the JSON schema of the config file."""
    del config  # accepted like every config command; the schema does not depend on it
    from daemon.config.settings import config_json_schema

    document: dict[str, Any] = config_json_schema()
    typer.echo(json.dumps(document, indent=2))
