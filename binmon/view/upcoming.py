"""Upcoming listings and deliveries of the visible contracts, counting down."""

from __future__ import annotations

from typing import Final

from rich.console import RenderableType
from rich.text import Text

# A module, not names: binmon.upcoming_view imports binmon.view.format, so it
# may still be loading (it imported this package) when this module runs.
import binmon.upcoming_view as upcoming_view
from binmon.upcoming import Upcoming, upcoming
from binmon.view.format import date_time
from binmon.view.grid import Column, append_search, cell, grid, one_line, titled
from binmon.view.model import CONTRACTS, Now, ScreenModel, contract_visible
from binmon.view.words import status_text

UPCOMING_COLUMNS: Final = (
    Column("left", "time left", "right", priority=0, max_width=12),
    Column("when", "when (UTC)", priority=1, max_width=16),
    Column("event", "event", priority=0, max_width=9),
    Column("symbol", "symbol", priority=0, max_width=20),
    Column("type", "type", priority=3, max_width=26),
    Column("status", "status", priority=2, max_width=16),
    Column("market", "mkt", priority=4, max_width=3),
)


def upcoming_events(model: ScreenModel, now_ms: float) -> list[Upcoming]:
    """Scheduled listings and deliveries of the visible contracts, soonest first.

    Derived from the contract book once per change; between changes only the
    events whose time has come drop off the front.
    """
    now = int(now_ms)
    key = (model.contracts_version, len(model.contracts), model.filters, model.search)
    # A replay's clock can go back (another file): then the list is stale too.
    if model._upcoming_key != key or now < model._upcoming_at:
        visible = [c for c in model.contracts.values() if contract_visible(model.filters, c)]
        if model.search is not None:
            visible = [c for c in visible if model.search.matches(c.symbol)]
        model._upcoming = upcoming(visible, now)
        model._upcoming_key, model._upcoming_at = key, now
    events = model._upcoming
    first = 0
    while first < len(events) and events[first].time <= now:
        first += 1
    if first:
        del events[:first]
    return events


def upcoming_cells(event: Upcoming, now_ms: float) -> dict[str, Text]:
    return {
        "left": Text(upcoming_view.time_left(event, int(now_ms)), style="bold"),
        "when": Text(date_time(event.time)),
        "event": upcoming_view.kind_text(event),
        "symbol": cell(event.symbol, "bold", 40),
        "type": cell(event.contract_type, limit=40),
        "status": status_text(event.status),
        "market": cell(event.market, limit=10),
    }


def upcoming_height(model: ScreenModel, body: int, now: Now) -> int:
    """Lines for the upcoming section: what it needs, up to a quarter of the body."""
    if not model.show_upcoming or CONTRACTS not in model.kinds or body < 6:
        return 0
    need = 2 + max(1, len(upcoming_events(model, now.wall_ms)))
    return min(need, max(3, body // 4))


def upcoming_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    if height <= 0:
        return []
    events = upcoming_events(model, now.wall_ms)
    shown = events[: max(0, height - 2)]
    title = Text("Upcoming listings and deliveries", style="bold")
    count = f"  {len(shown)} of {len(events)}" if len(shown) < len(events) else f"  {len(events)}"
    title.append(count)
    append_search(title, model)
    title.append("  (u hides)", style="dim")
    if not events:
        title.append("  none scheduled", style="dim")
        return [one_line(title, width)]
    table = grid(UPCOMING_COLUMNS, [upcoming_cells(e, now.wall_ms) for e in shown], width)
    return titled(title, table if height >= 2 else None, width)
