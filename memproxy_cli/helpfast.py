"""`memproxy --help` without the rich modules its help never uses (~40 ms of its ~160).

Typer's help renderer (`typer.rich_utils`) imports `rich.markdown` (markdown-it, pygments' lexer map)
and `rich.traceback` (rich.pretty, attrs) at its top, for markdown help text and pretty exceptions;
memproxy's help is rich markup and its pretty exceptions are off, so neither is used. `prepare_help`
imports the renderer with a stand-in for those two classes, each importing its real class the
first time it is called or asked anything, then takes the stand-in modules out of `sys.modules`:
whatever imports `rich.markdown` or `rich.traceback` later gets the real module. The help printed
is the same (tests/cli/test_helpfast.py).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


class _Deferred(type):
    """A stand-in's metaclass: what the class is asked (`Traceback.from_exception`) the real one answers."""

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)  # type: ignore[attr-defined]


def _stand_in(module: str, name: str) -> type:
    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return real()(*args, **kwargs)

    return _Deferred(name, (), {"__new__": new, "_real": staticmethod(real), "__module__": module})


def asks_for_help(argv: list[str]) -> bool:
    """Whether this command line prints help (`--help` anywhere, or no arguments at all)."""
    return len(argv) <= 1 or "--help" in argv[1:]


def prepare_help() -> None:
    """Import Typer's help renderer with the stand-ins (nothing if it or the real modules are imported)."""
    if "typer.rich_utils" in sys.modules:
        return
    placed = []
    for module, name in _DEFERRED:
        if module not in sys.modules:
            stand_in = types.ModuleType(module)
            setattr(stand_in, name, _stand_in(module, name))
            sys.modules[module] = stand_in
            placed.append(module)
    try:
        importlib.import_module("typer.rich_utils")
    except ImportError:  # pragma: no cover - typer without rich: its plain help needs none of this
        pass
    finally:
        for module in placed:
            sys.modules.pop(module, None)
