"""Help that reads like a well-made CLI's: `TEXT`, `INTEGER`, `PROJECT`, nothing after a flag.

Typer (0.29) writes each option's Python type in angle brackets — `<bool>` after every flag,
`<str>`, `<int range> [x>=1]`, `<list[str]>` — and a required argument as `{project}` in the
usage line. `conventional` gives every parameter that has no metavar of its own the name click
and most CLIs use, once per command, before its help is shown or its line parsed; the values a
parameter accepts (its type, its range) are unchanged. Each parameter also gets `coerce.plain_values`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

from memproxy_cli.coerce import plain_values

_NAMES = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "Path": "PATH", "bool": "BOOLEAN"}
_DONE = "_memproxy_conventional"


class _Argument(TyperArgument):
    """An argument named in the usage line as `PROJECT` (required) or `[ID]`, not `{project}`."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column says it already: PROJECT, ID, CMD...

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")


def _metavar(param: Any) -> str:
    if isinstance(param, TyperArgument):
        return str(param.name or "value").upper() + ("..." if param.nargs != 1 else "")
    if param.is_flag or param.count:
        return ""  # a flag takes no value: nothing to show after it
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices) + "]"
    return _NAMES.get(param.bare_type(), "VALUE")


def conventional(command: Any, ctx: Any) -> Any:
    """`command` (and, for a group, every command under it) with conventional metavars; returned."""
    if command is None or getattr(command, _DONE, False):
        return command
    setattr(command, _DONE, True)
    for param in [*command.params, command.get_help_option(ctx)]:
        if not isinstance(param, TyperArgument | TyperOption):
            continue
        if param.metavar is None:
            param.metavar = _metavar(param)
        if isinstance(param, TyperOption) and param.max is None and not param.count:
            # "[x>=1]" is for display only: the value is still checked against the option's own min
            param.min = None
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        plain_values(param)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            conventional(sub, ctx)
    return command
