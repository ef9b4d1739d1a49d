"""The change log (contract changes, alerts, position moves) and the help overlay."""

from __future__ import annotations

from typing import Final

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text

from binmon.view.format import clock_time
from binmon.view.grid import one_line
from binmon.view.model import Now, ScreenModel


def log_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    if height <= 0:
        return []
    title = Text("Recent changes", style="bold")
    title.append("  (UTC, newest first)", style="dim")
    out: list[RenderableType] = [one_line(title, width)]
    entries = list(model.log)[: height - 1]
    if not entries and height > 1:
        out.append(one_line(Text("no changes yet", style="dim"), width))
    pad = max((cell_len(e.symbol) for e in entries), default=0)
    pad = min(pad, 20)
    for entry in entries:
        line = Text(clock_time(entry.time_ms, now.wall_ms), style="dim")
        line.append("  ")
        symbol = Text(entry.symbol, style="bold")
        symbol.truncate(pad, overflow="ellipsis", pad=True)
        line.append_text(symbol)
        line.append("  ")
        line.append_text(entry.text)
        out.append(one_line(line, width))
    return out


# --- help -----------------------------------------------------------------------

# Every key of the live tables, in the order the help overlay lists them.
HELP_KEYS: Final = (
    ("q", "quit"),
    ("?", "this help (any key closes it)"),
    ("/", "filter symbols: a glob (btc*, *usdc) or any part of the name (btc); Enter applies"),
    ("Esc", "clear the filter; leave a contract's detail (← and Backspace too)"),
    ("p", "pause the display (events are still received and counted); p again resumes"),
    ("u", "show or hide upcoming listings and deliveries, counting down"),
    ("↑ ↓  k j", "move the selection in the contract table"),
    ("PgUp PgDn  b space", "a page up or down"),
    ("Home End  g G", "first or last contract"),
    ("Enter", "open the selected contract: its bracket ladder and changes this run"),
    ("s", "sort the asset table: symbol, biggest 5-minute move, price"),
    ("c", "sort the contract table: recent changes first, symbol"),
)


def help_section(width: int, height: int) -> list[RenderableType]:
    if height <= 0:
        return []
    out: list[RenderableType] = [one_line(Text("Keys  (any key closes this)", style="bold"), width)]
    pad = max(cell_len(k) for k, _ in HELP_KEYS)
    for key, what in HELP_KEYS:
        line = Text(f"  {key:<{pad}}  ", style="bold")
        line.append(what)
        out.append(one_line(line, width))
    return out[:height]
