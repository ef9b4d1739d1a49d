"""Rich rendering of upcoming listings and deliveries: one table, with the time left.

Every string from the network is wrapped in ``Text`` after
:func:`binmon.view.format.safe`: never markup, never an escape sequence.
The time left is computed from the ``now_ms`` given, so a live section can
redraw the same events as a countdown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from rich import box
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.table import Table
from rich.text import Text

from binmon.upcoming import Upcoming
from binmon.view.format import date_time, duration, safe, timestamp


def time_left(event: Upcoming, now_ms: int) -> str:
    left = event.time - now_ms
    return f"in {duration(left / 1000)}" if left > 0 else "now"


def kind_text(event: Upcoming) -> Text:
    if event.delisting:
        return Text("delisting", style="red")
    if event.event == "delivery":
        return Text("delivery", style="yellow")
    return Text(event.event, style="green")


@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[Upcoming, int], Text]
    justify: JustifyMethod = "left"


_COLUMNS: Final = {
    "left": _Column(
        "Time left", lambda e, now: Text(time_left(e, now), style="bold"), justify="right"
    ),
    "when": _Column("When (UTC)", lambda e, now: Text(date_time(e.time))),
    "event": _Column("Event", lambda e, now: kind_text(e)),
    "symbol": _Column("Symbol", lambda e, now: Text(safe(e.symbol), style="bold")),
    "type": _Column("Type", lambda e, now: Text(safe(e.contract_type or ""))),
    "status": _Column("Status", lambda e, now: Text(safe(e.status or ""))),
    "market": _Column("Mkt", lambda e, now: Text(safe(e.market or ""))),
}
# What a narrow terminal gives up first: rows never wrap, columns go.
_DROP_ORDER: Final = ("market", "type", "when", "status")
# Room a column takes besides its text in the table below: padding on each
# side and the box's blank divider.
_GAP: Final = 3


def upcoming_table(
    events: Sequence[Upcoming], now_ms: int, *, title: str | None = None, width: int | None = None
) -> Table:
    """Soonest first, as given; ``title`` defaults to a count and the time it is as of.

    With ``width``, the least useful columns are left out until the rows fit.
    """
    if title is None:
        title = f"Upcoming listings and deliveries: {len(events)}, as of {timestamp(now_ms)} UTC"
    cells = {name: [column.cell(e, now_ms) for e in events] for name, column in _COLUMNS.items()}
    needed = {
        name: max([len(_COLUMNS[name].header), *(t.cell_len for t in texts)]) + _GAP
        for name, texts in cells.items()
    }
    shown = list(_COLUMNS)
    for name in _DROP_ORDER:
        if width is None or sum(needed[n] for n in shown) <= width:
            break
        shown.remove(name)
    # No vertical rules: the type and status names need the room.
    table = Table(
        title=Text(title, style="bold"),
        title_justify="left",
        expand=False,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in shown:
        column = _COLUMNS[name]
        # Symbols fold rather than lose characters when even that is too wide.
        fold = name == "symbol"
        table.add_column(column.header, justify=column.justify, no_wrap=not fold, overflow="fold")
    for i in range(len(events)):
        table.add_row(*(cells[name][i] for name in shown))
    return table


@dataclass
class UpcomingView:
    """The table sized to wherever it is drawn (a terminal, a live section)."""

    events: Sequence[Upcoming]
    now_ms: int
    title: str | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield upcoming_table(self.events, self.now_ms, title=self.title, width=options.max_width)
