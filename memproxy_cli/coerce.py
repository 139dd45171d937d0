"""Plain option values read without pydantic, so a command starts at once.

Typer (0.29) coerces every option and argument through a pydantic `TypeAdapter`, built the first
time the parameter is parsed, even for one left at its default: importing pydantic and building
the adapters cost ~75 ms of every `memproxy` command. `plain_values` gives a parameter a coercion
that reads the plain values memproxy's commands take (a string, a flag, a path, an integer or a
number within its range, a choice) itself and hands anything else, and every value it would
refuse, to Typer's own, so what is accepted and every error message stay Typer's.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any

try:  # typer >= 0.29; older releases coerce through click and need none of this
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - an older typer
    RuntimeParam = None  # type: ignore[assignment,misc]

_UNREAD = object()
_INT = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_PATH_DEFAULTS = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False,
                  "readable": True, "resolve_path": False, "allow_dash": False, "path_type": None}  # fmt: skip


def _in_range(value: float, info: Any) -> bool:
    if getattr(info, "clamp", False):
        return False  # Typer clamps: its own coercion does that
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    return (low is None or value >= low) and (high is None or value <= high)


def plain(value: Any, annotation: Any, info: Any) -> Any:
    """`value` read as `annotation`, or `_UNREAD` when Typer's own coercion should read it."""
    if annotation is str or annotation is bool:
        return value if type(value) is annotation else _UNREAD
    if annotation is Path:
        plain_path = all(getattr(info, k, v) == v for k, v in _PATH_DEFAULTS.items())
        return Path(value) if plain_path and isinstance(value, str | Path) and str(value) else _UNREAD
    if annotation is int or annotation is float:
        pattern = _INT if annotation is int else _NUMBER
        if type(value) is annotation or (type(value) is str and pattern.match(value)):
            number = annotation(value)
            return number if _in_range(number, info) else _UNREAD
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        if type(value) is str:
            fold = (lambda v: v) if getattr(info, "case_sensitive", True) else str.casefold
            found = [m for m in annotation if isinstance(m.value, str) and fold(m.value) == fold(value)]
            return found[0] if len(found) == 1 else _UNREAD
    return _UNREAD


if RuntimeParam is not None:

    class _Plain(RuntimeParam):
        """Coercion that reads plain values itself and asks Typer's for the rest (built then)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            read = plain(value, self.annotation, self.parameter_info)
            if read is not _UNREAD:
                return read
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)


def _get_runtime_param(self: Any) -> Any:
    """A Typer parameter's coercion, `_Plain` (see the module's docstring); a file's stays Typer's."""
    if self._runtime_param is None:
        descriptor = self.type_descriptor
        if descriptor.file_annotation is not None:
            return super(type(self), self).get_runtime_param()
        self._runtime_param = _Plain(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
    return self._runtime_param


_CLASSES: dict[type, type] = {}


def plain_values(param: Any) -> None:
    """Give `param` (a Typer option or argument) the plain coercion, when this Typer has one to replace."""
    cls = type(param)
    # Typer's private seam (0.29): a release without it keeps its own coercion, whatever it costs
    seam = ("get_runtime_param", "_runtime_param", "type_descriptor")
    if RuntimeParam is None or cls in _CLASSES.values() or not all(hasattr(param, name) for name in seam):
        return
    if cls not in _CLASSES:  # a subclass, not a mixin: a base before Typer's changes the object's layout
        _CLASSES[cls] = type(cls.__name__, (cls,), {"__module__": __name__, "get_runtime_param": _get_runtime_param})
    param.__class__ = _CLASSES[cls]
