"""`memproxy memory add|search|list|forget`: a project's memory from the command line.

The scope is worked out as the gateway does it (`context_retrieval.scope`, the project, the user),
so `memory search` here finds what a chat request on that project would. Nothing heavy is imported:
the memory backend (sqlite3, or the Supermemory SDK when configured) loads inside the command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from memproxy_cli.options import ConfigOption
from memproxy_cli.output import fail

if TYPE_CHECKING:
    from daemon.memory.base import Memory, MemoryBackend

T = TypeVar("T")

memory_app = typer.Typer(help="The memory of a project: add, search, list and forget.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project (default: the git repository or folder of the current directory)."),
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="User id, for `scope: user` or `project_user` (default: default_user_id)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
_PREVIEW = 100


def _run(
    config: Path | None, project: str | None, user: str | None, op: Callable[[MemoryBackend, str], Awaitable[T]]
) -> tuple[T, str]:
    """Resolve settings and scope, open the configured backend, run `op(backend, scope)`, close it."""
    from daemon.config.settings import load_settings
    from daemon.identity import memory_scope, validate_project_name
    from daemon.memory import open_backend
    from interceptor.wrap import default_project

    async def go() -> tuple[T, str]:
        settings = load_settings(config_file=config)
        name = validate_project_name(project) if project else default_project(Path.cwd())
        user_id = user or settings.user_id_mappings.default_user_id
        scope = memory_scope(settings.context_retrieval.scope, name, user_id)
        backend = open_backend(settings)
        try:
            return await op(backend.for_user(user_id), scope), scope
        finally:
            await backend.close()

    import asyncio

    return asyncio.run(go())


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…"


def _table(memories: list[Memory], scope: str, with_score: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from memproxy_cli.output import console

    table = Table(title=escape(scope), title_justify="left", show_edge=False)
    table.add_column("id", style="cyan", no_wrap=True)
    if with_score:
        table.add_column("score", justify="right")
    table.add_column("created", no_wrap=True)
    counted = any(m.used_count is not None for m in memories)  # the local store counts uses; Supermemory not
    if counted:
        table.add_column("used", justify="right", no_wrap=True)
        table.add_column("last used", no_wrap=True)
    table.add_column("text")
    for m in memories:
        score = [f"{m.score:.3g}" if m.score is not None else "–"] if with_score else []
        used = [str(m.used_count or 0), _minute(m.last_used_at) or "never"] if counted else []
        table.add_row(escape(m.id), *score, _minute(m.created_at), *used, escape(_one_line(m.text)))
    console.print(table)


def _minute(moment: str | None) -> str:
    """An ISO timestamp to the minute, as the table shows it ("" for none)."""
    return (moment or "")[:16].replace("T", " ")


@memory_app.command()
def add(
    text: Annotated[str, typer.Argument(help="What to remember ('-' reads it from stdin).")],
    project: ProjectOption = None,
    user: UserOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remember TEXT in the project's memory."""
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        fail("nothing to remember: TEXT is empty")
    memory, scope = _run(config, project, user, lambda b, scope: b.add(scope, text, {"source": "cli"}))
    if as_json:
        _print_json(memory.as_json())
    else:
        typer.echo(f"✓ remembered in {scope} (memory {memory.id})")


@memory_app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to look for (any characters are fine).")],
    limit: Annotated[int, typer.Option("--count", "-n", "--limit", min=1, help="How many results to show.")] = 10,
    project: ProjectOption = None,
    user: UserOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the project's memory, best match first."""
    found, scope = _run(config, project, user, lambda b, scope: b.search(scope, query, limit))
    if as_json:
        _print_json([m.as_json() for m in found])
    elif not found:
        typer.echo(f"no memory in {scope} matches {query!r}")
    else:
        _table(found, scope, with_score=True)


@memory_app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--count", "-n", "--limit", min=1, help="How many memories to show.")] = 50,
    project: ProjectOption = None,
    user: UserOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The project's newest memories, newest first."""
    found, scope = _run(config, project, user, lambda b, scope: b.list(scope, limit))
    if as_json:
        _print_json([m.as_json() for m in found])
    elif not found:
        typer.echo(f"no memories in {scope} yet")
    else:
        _table(found, scope, with_score=False)


@memory_app.command()
def forget(
    memory_id: Annotated[str | None, typer.Argument(metavar="ID", help="The memory to forget.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Forget every memory of the project.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask first.")] = False,
    project: ProjectOption = None,
    user: UserOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forget one memory (ID) or all of them (--all)."""
    if (memory_id is None) == (not all_):
        fail("give either a memory ID or --all")

    async def op(backend: MemoryBackend, scope: str) -> int:
        if all_:
            held = len(await backend.list(scope, limit=1_000_000))
            # every memory of a scope is a lot to lose to a typo: asked, unless --yes (no answer is no)
            if held and not yes and not typer.confirm(f"forget all {held} memories in {scope}?", err=True):
                fail("nothing forgotten (--yes forgets without asking)")
            return await backend.forget_all(scope)
        assert memory_id is not None
        return int(await backend.forget(scope, memory_id))

    count, scope = _run(config, project, user, op)
    if memory_id is not None and not count:
        fail(f"no memory {memory_id} in {scope}")
    if as_json:
        _print_json({"forgotten": count, "scope": scope})
    elif all_:
        typer.echo(f"✓ forgot {count} memor{'y' if count == 1 else 'ies'} in {scope}")
    else:
        typer.echo(f"✓ forgot {memory_id} in {scope}")
