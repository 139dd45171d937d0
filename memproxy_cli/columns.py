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

    def shrink(floor: int | None) -> None:
        # one cell at a time off the widest name, so that names shorten alike
        while total() > width:
            names = [i for i in kept if columns[i].least and widths[i] > _floor(columns[i], floor)]
            if not names:
                return
            widths[max(names, key=lambda i: widths[i])] -= 1

    shrink(_COMFORT)
    for i in sorted(kept, key=lambda i: -columns[i].priority):
        if total() <= width or columns[i].priority == 0:
            break
        kept.remove(i)
    shrink(None)
    while total() < width:  # the columns left out gave room back: names take it, the shortest first
        names = [i for i in kept if widths[i] < natural[i]]
        if not names:
            break
        widths[min(names, key=lambda i: widths[i])] += 1
    return kept, [widths[i] for i in kept]


def _floor(column: Column, floor: int | None) -> int:
    return max(column.least, len(column.name), floor or 0)


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


def fitted_lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    width: int,
    *,
    header: bool = True,
    sizing: Sequence[Sequence[str]] | None = None,
) -> list[Any]:
    """The lines of a table of rich `Text` cells that fits `width`, for a caller that prints between rows.

    Widths come from `sizing` (plain rows) when given, else from the cells: the same `sizing` and
    `width` give the same widths, so batches printed one by one (`logs --follow`) stay aligned."""
    from rich.text import Text

    plain = sizing if sizing is not None else [[cell.plain for cell in row] for row in rows]
    kept, widths = fit(columns, plain, width)

    def line(cells: Sequence[Any]) -> Any:
        out = Text()
        for n, (i, w) in enumerate(zip(kept, widths, strict=True)):
            cell = cells[i]
            if n == len(kept) - 1 and not columns[i].numeric:  # the last column may use the rest of the line
                w = max(w, min(cell.cell_len, width - out.cell_len - (_GAP if n else 0)))
            text = Text(shorten(cell.plain, w), style=cell.style) if cell.cell_len > w else cell.copy()
            pad = " " * (w - text.cell_len)
            if n:
                out.append(" " * _GAP)
            out.append_text(Text(pad) + text if columns[i].numeric else text + Text(pad))
        out.rstrip()
        return out

    lines = [line([Text(c.name, style="bold") for c in columns])] if header else []
    return lines + [line(row) for row in rows]
