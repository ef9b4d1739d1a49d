"""Rich rendering of upcoming listings and deliveries: one table, with the time left.

Every string from the network is wrapped in ``Text`` after
:func:`binmon.view.format.safe`: never markup, never an escape sequence.
The time left is computed from the ``now_ms`` given, so a live section can
redraw the same events as a countdown.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def upcoming_table(events: Sequence[Upcoming], now_ms: int, *, title: str | None = None) -> Table:
    """Soonest first, as given; ``title`` defaults to a count and the time it is as of."""
    if title is None:
        title = f"Upcoming listings and deliveries: {len(events)}, as of {timestamp(now_ms)} UTC"
    table = Table(title=Text(title, style="bold"), title_justify="left", expand=False)
    table.add_column("Time left", justify="right", no_wrap=True)
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("Event", no_wrap=True)
    table.add_column("Symbol", no_wrap=True)
    table.add_column("Type")
    table.add_column("Status")
    table.add_column("Market")
    for e in events:
        table.add_row(
            Text(time_left(e, now_ms), style="bold"),
            Text(date_time(e.time)),
            kind_text(e),
            Text(safe(e.symbol), style="bold"),
            Text(safe(e.contract_type or "")),
            Text(safe(e.status or "")),
            Text(safe(e.market or "")),
        )
    return table
