"""Rich rendering of leverage brackets: a table and a ladder picture per symbol.

Every string from the network or the command line is wrapped in ``Text``
after :func:`binmon.diag.printable`: rich never interprets it as markup and
no control character reaches the terminal. Numbers are shown with exactly
the exchange's digits; floats are used only to place bars on the picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from binmon.diag import printable
from binmon.leverage import NotionalOutOfRange, Position, dec, ordered, percent_text
from binmon.protocol import Bracket

SELECTED_STYLE: Final = "bold reverse"
# A last cap this many times the one before (BTCSTUSDT's is Long.MAX) would
# squash every other bracket into a few columns: the axis stops short instead.
_CLIP_FACTOR: Final = 1000.0
_GLYPHS: Final = ("█", "┴", "─", "▲", "│")
_ASCII: Final = ("#", "+", "-", "^", "|")
_SUFFIXES: Final = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _text(value: object, style: str = "") -> Text:
    return Text(printable(value), style=style)


def _leverage(value: str | None) -> str:
    return "-" if value is None else f"{value}x"


def brackets_table(
    symbol: str,
    brackets: Sequence[Bracket],
    selected: int | None = None,
    *,
    marked: bool | None = None,
    fancy: bool = True,
) -> Table:
    """One row per bracket; ``selected`` (a bracket number) is highlighted and marked.

    ``marked`` forces the marker column on or off (default: on when a bracket
    is selected).
    """
    ladder = ordered(brackets)
    with_min = any(b.min_leverage is not None for b in ladder)
    marked = selected is not None if marked is None else marked
    rows: list[list[str]] = []
    for b in ladder:
        row = [str(b.bracket), b.notional_floor, b.notional_cap]
        if with_min:
            row.append(_leverage(b.min_leverage))
        row += [_leverage(b.max_leverage), percent_text(b.maint_margin_ratio), b.cum]
        rows.append([printable(cell) for cell in row])
    # Two-line headers keep columns as narrow as their numbers.
    headers = ["Bracket", "Notional\nfloor", "Notional\ncap"]
    if with_min:
        headers.append("Min\nleverage")
    headers += ["Max\nleverage", "Maint.\nmargin", "Cum"]

    table = Table(title=_text(symbol, "bold"), title_justify="left", expand=False)
    if marked:
        table.add_column("", no_wrap=True)
    for header in headers:
        # fold, never ellipsis: on a narrow terminal digits wrap but none go missing.
        table.add_column(header, justify="right", overflow="fold")
    for b, row in zip(ladder, rows, strict=True):
        chosen = b.bracket == selected
        cells: list[RenderableType] = []
        if marked:
            cells.append(Text(("▶" if fancy else ">") if chosen else ""))
        cells += [Text(cell) for cell in row]
        table.add_row(*cells, style=SELECTED_STYLE if chosen else None)
    return table


def short_number(value: float) -> str:
    """Axis labels only: ``250000`` → ``250k``."""
    for size, suffix in _SUFFIXES:
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


@dataclass(frozen=True)
class _Axis:
    """Log-scale notional axis: ``lo`` maps to column 0, ``hi`` to ``width``."""

    lo: float
    hi: float
    width: int

    def column(self, value: float) -> int:
        if value <= self.lo:
            return 0
        if value >= self.hi:
            return self.width
        span = math.log10(self.hi) - math.log10(self.lo)
        return round((math.log10(value) - math.log10(self.lo)) / span * self.width)

    def decades(self) -> Iterator[float]:
        first, last = math.ceil(math.log10(self.lo)), math.floor(math.log10(self.hi))
        for exponent in range(first, last + 1):
            yield 10.0**exponent

    def line(self, tick: str, rule: str) -> str:
        cells = [rule] * self.width
        for value in self.decades():
            at = self.column(value)
            if 0 <= at < self.width:
                cells[at] = tick
        return "".join(cells)

    def labels(self) -> str:
        # The ladder leaves two spare columns right of the bars for a last label.
        line = [" "] * (self.width + 2)
        free = 0
        for value in self.decades():
            label = short_number(value)
            at = self.column(value)
            if at >= free and at + len(label) <= len(line):
                line[at : at + len(label)] = list(label)
                free = at + len(label) + 1
        return "".join(line).rstrip()


@dataclass
class Ladder:
    """Max leverage against notional: one bar per bracket on a log notional axis.

    Drawn with plain text characters (block glyphs, or ASCII when the
    console cannot encode them), sized to the console width at render time.
    """

    brackets: Sequence[Bracket]
    notional: str | None = None
    selected: int | None = None
    max_width: int = 72

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ladder = ordered(self.brackets)
        caps = [float(dec(b.notional_cap)) for b in ladder]
        if not ladder or not all(c > 0 and math.isfinite(c) for c in caps):
            return
        fancy = console.encoding.lower().startswith("utf")
        bar, tick, rule, up, mark = (
            ("█", "┴", "─", "▲", "│") if fancy else ("#", "+", "-", "^", "|")
        )
        labels = [_leverage(b.max_leverage) for b in ladder]
        label_width = max(len(label) for label in labels)
        indent = " " * (label_width + 1)
        width = max(10, min(self.max_width, options.max_width) - label_width - 3)

        hi = caps[-1]
        clipped = len(caps) > 1 and hi > caps[-2] * _CLIP_FACTOR
        if clipped:
            hi = caps[-2] * 10
        # The first bracket starts at 0, which a log axis cannot show: give it one decade.
        axis = _Axis(lo=caps[0] / 10, hi=hi, width=width)

        marker: int | None = None
        if self.notional is not None:
            n = float(dec(self.notional))
            if n < caps[-1]:
                marker = min(axis.column(n), width - 1)

        yield Text("Max leverage by notional (log scale)", style="dim")
        for b, label in zip(ladder, labels, strict=True):
            start = axis.column(float(dec(b.notional_floor)))
            end = max(start + 1, axis.column(float(dec(b.notional_cap))))
            cells = [" "] * width
            for i in range(start, min(end, width)):
                cells[i] = bar
            if marker is not None and cells[marker] == " ":
                cells[marker] = mark
            row = Text(f"{label:>{label_width}} ")
            row.append("".join(cells), style="bold" if b.bracket == self.selected else "")
            if clipped and b is ladder[-1]:
                row.append(" ›" if fancy else " >")
            yield row

        yield Text(indent + axis.line(tick, rule))
        yield Text(indent + axis.labels())
        if marker is not None and self.notional is not None:
            shown = printable(self.notional)
            note = f"{up} {shown}"
            if marker + len(note) > width + 2:
                # Too close to the right edge: put the number left of the marker.
                note = f"{shown} {up}"
                marker = max(0, marker - len(note) + 1)
            yield Text(indent + " " * marker + note, style="bold")


def summary(position: Position, *, fancy: bool = True) -> Text:
    """Two lines: which bracket the notional is in, and its maintenance margin."""
    b = position.bracket
    le, times, minus = ("≤", "×", "−") if fancy else ("<=", "x", "-")
    notional = printable(position.notional)
    text = Text()
    text.append(f"Notional {notional}", style="bold")
    text.append(
        f" is in bracket {b.bracket} ({printable(b.notional_floor)} {le} N < "
        f"{printable(b.notional_cap)}): max leverage "
    )
    text.append(_leverage(b.max_leverage), style="bold")
    text.append("\nMaintenance margin ")
    text.append(position.maintenance_margin_text, style="bold")
    text.append(
        f" = {notional} {times} {printable(b.maint_margin_ratio)} {minus} {printable(b.cum)}"
        f" (notional {times} maint. margin ratio {minus} cum)"
    )
    return text


def out_of_range(problem: NotionalOutOfRange) -> Text:
    return Text(f"No bracket holds this position: {printable(problem)}", style="bold red")


@dataclass
class SymbolView:
    """Everything shown for one symbol: table, ``--notional`` verdict, ladder."""

    symbol: str
    brackets: Sequence[Bracket]
    position: Position | None = None
    notional: str | None = None
    problem: NotionalOutOfRange | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        fancy = console.encoding.lower().startswith("utf")
        selected = None if self.position is None else self.position.bracket.bracket
        yield brackets_table(
            self.symbol,
            self.brackets,
            selected,
            marked=self.notional is not None,
            fancy=fancy,
        )
        if self.position is not None:
            yield summary(self.position, fancy=fancy)
        elif self.problem is not None:
            yield out_of_range(self.problem)
        yield Ladder(self.brackets, notional=self.notional, selected=selected)
        yield Text("")


def render_symbol(
    symbol: str,
    brackets: Sequence[Bracket],
    *,
    position: Position | None = None,
    notional: str | None = None,
    problem: NotionalOutOfRange | None = None,
) -> RenderableType:
    return SymbolView(symbol, brackets, position=position, notional=notional, problem=problem)
