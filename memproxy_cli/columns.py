"""Tables that fit the terminal: columns chosen by priority, names shortened in the middle, values never cut.

rich squeezes every column of a table that is too wide until dates, costs and names turn into
stripes (`202`/`6-1`/`1-2`). `fit` decides instead, from the plain text of the cells: names that
may shorten give up their width first (down to a comfortable length), then the least useful
columns are left out, then names shorten down to their least. A cell that is kept is shown whole
or, for a name, shortened in the middle (`claude-s…-20250929`) — never cut at its end or folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_GAP = 2  # rich's padding (0, 1) between two columns with pad_edge off
_COMFORT = 14  # a name keeps this much before any column is left out


@dataclass(frozen=True)
class Column:
    """One column: `priority` 0 is never left out; higher numbers go first. `least`: a name's shortest."""

    name: str
    priority: int = 0
    numeric: bool = False
    least: int = 0  # 0: the value is never shortened (a date, a number); else a name down to this many


def shorten(text: str, width: int) -> str:
    """`text` in `width` characters, its middle replaced by `…` (the start and the end say most)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> tuple[list[int], list[int]]:
    """Which columns to show (their indexes, in order) and the width each of them gets, for `width` cells."""
    natural = [max([len(c.name), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    widths = dict(enumerate(natural))

    def total() -> int:
        return sum(widths[i] for i in kept) + _GAP * max(0, len(kept) - 1)

    def shrink(floor: Any) -> None:
        for i in sorted(kept, key=lambda i: -widths[i]):
            column = columns[i]
            if not column.least or total() <= width:
                continue
            least = max(column.least, len(column.name), floor(column))
            widths[i] = max(least, widths[i] - (total() - width))

    shrink(lambda c: _COMFORT)
    for i in sorted(kept, key=lambda i: -columns[i].priority):
        if total() <= width or columns[i].priority == 0:
            break
        kept.remove(i)
    for i in kept:  # the columns left out gave room back: shorten names only as much as still needed
        widths[i] = natural[i]
    shrink(lambda c: c.least)
    return kept, [widths[i] for i in kept]


def fitted_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, *, total: Sequence[str] | None = None
) -> Any:
    """A rich Table of `rows` (plain text) that fits `width`; a `total` row goes last, in bold, under a rule."""
    from rich.table import Table
    from rich.text import Text

    everything = [*rows, total] if total is not None else list(rows)
    kept, widths = fit(columns, everything, width)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i, w in zip(kept, widths, strict=True):
        column = columns[i]
        table.add_column(column.name, justify="right" if column.numeric else "left", no_wrap=True, width=w)
    for n, row in enumerate(everything):
        cells = [Text(shorten(row[i], w)) for i, w in zip(kept, widths, strict=True)]
        last = total is not None and n == len(rows)
        table.add_row(*cells, style="bold" if last else "", end_section=total is not None and n == len(rows) - 1)
    return table
