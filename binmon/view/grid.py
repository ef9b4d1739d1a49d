"""Borderless tables as lines of ``Text``: columns chosen by priority so a row
never wraps, and the one-line helpers every section is built from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text

from binmon.view.format import safe
from binmon.view.model import PROMPT_LIMIT, ScreenModel

Justify = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    justify: Justify = "left"
    # Lower is more important; columns of equal priority come and go together.
    priority: int = 0
    max_width: int = 40
    # A flexible column gives up width down to this before the table drops columns.
    min_width: int | None = None


def fit_columns(
    columns: Sequence[Column], natural: dict[str, int], width: int, gap: int = 2
) -> list[tuple[Column, int]]:
    """Choose columns by priority and their widths so a row never exceeds ``width``.

    Rows never wrap: a narrow terminal loses whole low-priority columns
    rather than squeezing every column into ellipses.
    """
    want = {
        c.key: min(max(natural.get(c.key, 0), cell_len(c.header)), c.max_width) for c in columns
    }
    need = {
        c.key: want[c.key] if c.min_width is None else min(want[c.key], c.min_width)
        for c in columns
    }
    chosen: set[str] = set()
    used = 0
    for priority in sorted({c.priority for c in columns}):
        group = [c for c in columns if c.priority == priority]
        extra = sum(need[c.key] for c in group) + gap * len(group) - (gap if not chosen else 0)
        if used + extra <= width:
            chosen.update(c.key for c in group)
            used += extra
    widths = {key: need[key] for key in chosen}
    spare = width - used
    for c in columns:
        if c.key in chosen and spare > 0 and want[c.key] > widths[c.key]:
            grow = min(spare, want[c.key] - widths[c.key])
            widths[c.key] += grow
            spare -= grow
    return [(c, widths[c.key]) for c in columns if c.key in chosen]


def grid(
    columns: Sequence[Column], rows: Sequence[dict[str, Text]], width: int
) -> list[Text] | None:
    """A borderless table as one ``Text`` line per row (header first), each at
    most ``width`` cells: rows never wrap, overlong cells end in an ellipsis.

    Composed by hand rather than with ``rich.table.Table``: a Table renders
    every cell through its own padding and wrapping machinery, which for a
    screenful of contracts costs several times the 15 ms frame budget.
    """
    natural = {c.key: max((row[c.key].cell_len for row in rows), default=0) for c in columns}
    fitted = fit_columns(columns, natural, width)
    if not fitted:
        return None
    header = Text(no_wrap=True, overflow="ellipsis")
    for i, (column, w) in enumerate(fitted):
        if i:
            header.append(_GAP)
        _append_cell(header, Text(column.header, style="bold underline"), w, column.justify)
    header.rstrip()
    lines = [header]
    for row in rows:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (column, w) in enumerate(fitted):
            if i:
                line.append(_GAP)
            _append_cell(line, row[column.key], w, column.justify)
        line.rstrip()  # empty trailing cells would otherwise leave a tail of blanks
        lines.append(line)
    return lines


_GAP: Final = "  "


def _append_cell(line: Text, value: Text, width: int, justify: Justify) -> None:
    length = value.cell_len
    if length > width:
        value = value.copy()
        # Pads a wide character cut in half, so the cell is exactly `width`.
        value.truncate(width, overflow="ellipsis", pad=True)
        length = width
    pad = " " * (width - length)
    if justify == "right":
        line.append(pad)
        line.append_text(value)
    else:
        line.append_text(value)
        line.append(pad)


def cell(value: object, style: str = "", limit: int = 60) -> Text:
    """A plain-text cell from a network value; ``None`` is an empty cell."""
    if value is None:
        return Text("")
    return Text(safe(value, limit), style=style)


# --- lines and sections --------------------------------------------------------


def append_search(title: Text, model: ScreenModel) -> None:
    """Name the applied ``/`` filter in a section's title: a short table explains itself."""
    if model.search is not None:
        title.append("  filter: ", style="bold")
        title.append(safe(model.search.text, PROMPT_LIMIT), style="bold reverse")


def titled(title: Text, table: list[Text] | None, width: int) -> list[RenderableType]:
    """A section: its title line, then the table's lines (none when no column fits)."""
    return [one_line(title, width)] if table is None else [one_line(title, width), *table]


def one_line(text: Text, width: int) -> Text:
    """``text`` made one screen line: cut with an ellipsis at ``width``, never wrapped."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    text.truncate(width, overflow="ellipsis")
    return text
