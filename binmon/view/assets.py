"""The asset index table and, under it, the collateral the user holds."""

from __future__ import annotations

from typing import Final

from rich.console import RenderableType
from rich.text import Text

from binmon.collateral import AssetValue, CollateralReport, plain, trimmed
from binmon.protocol import ASSET_DECIMAL_FIELDS
from binmon.view.format import clock_time, duration, percent, safe, sparkline, to_float
from binmon.view.grid import Column, append_search, cell, grid, titled
from binmon.view.model import (
    ALERT_STYLE,
    ASSETS,
    FLASH_MS,
    SILENT_AFTER_S,
    SPARK_WIDTH,
    SPARK_WINDOW_MS,
    AssetRow,
    Flash,
    Now,
    ScreenModel,
)

# --- asset index table -------------------------------------------------------

ASSET_COLUMNS: Final = (
    Column("symbol", "asset", priority=0, max_width=16),
    Column("index_price", "index price", "right", priority=0, max_width=24),
    Column("spark", "5m trend", priority=5, max_width=SPARK_WIDTH),
    Column("change", "5m %", "right", priority=6, max_width=9),
    Column("bid_buffer", "bid buf", "right", priority=3, max_width=14),
    Column("ask_buffer", "ask buf", "right", priority=3, max_width=14),
    Column("bid_rate", "bid rate", "right", priority=2, max_width=22),
    Column("ask_rate", "ask rate", "right", priority=2, max_width=22),
    Column("auto_exchange_bid_buffer", "auto bid buf", "right", priority=8, max_width=14),
    Column("auto_exchange_ask_buffer", "auto ask buf", "right", priority=8, max_width=14),
    Column("auto_exchange_bid_rate", "auto bid rate", "right", priority=7, max_width=22),
    Column("auto_exchange_ask_rate", "auto ask rate", "right", priority=7, max_width=22),
    Column("age", "age", "right", priority=1, max_width=7),
)


def flashed(value: str, flash: Flash | None, now_ms: float) -> Text:
    """A decimal exactly as sent; if it just changed, coloured by direction with
    the changed trailing digits emphasised (reverse video survives NO_COLOR)."""
    text = Text(safe(value, 40))
    if flash is None or now_ms - flash.at_ms >= FLASH_MS:
        return text
    colour = "green" if flash.direction > 0 else "red" if flash.direction < 0 else "yellow"
    text.stylize(colour)
    text.stylize(f"bold reverse {colour}", flash.start)
    return text


def spark(row: AssetRow) -> str:
    """The index price over the last five minutes, or over what history there is
    (at least a cell per second): a fresh screen shows movement at once."""
    history = row.history
    if not history:
        return ""
    # Points are only ever appended, dropped from the front, or the last one
    # replaced by a newer one: these three tell whether the history moved.
    state = (len(history), history[0], history[-1])
    if row.spark is not None and row.spark[0] == state:
        return row.spark[1]
    first, latest = history[0][0], history[-1][0]
    start = max(latest - SPARK_WINDOW_MS, min(first, latest - SPARK_WIDTH * 1000.0))
    text = sparkline(history, SPARK_WIDTH, start, latest + 1)
    row.spark = (state, text)
    return text


def asset_change(row: AssetRow) -> float | None:
    """Relative change of the index price over the sparkline window, in percent."""
    if len(row.history) < 2:
        return None
    first, last = row.history[0][1], row.history[-1][1]
    if first == 0:
        return None
    return (last - first) / first * 100.0


def sorted_assets(model: ScreenModel) -> list[AssetRow]:
    rows = [r for r in model.assets.values() if model.symbol_visible(r.event.symbol)]
    rows.sort(key=lambda r: r.event.symbol)
    if model.asset_sort == "price":
        rows.sort(key=lambda r: -(to_float(r.event.index_price) or 0.0))
    elif model.asset_sort == "change":
        rows.sort(key=lambda r: -abs(asset_change(r) or 0.0))
    return rows


def asset_cells(
    row: AssetRow, now: Now, stale_after: float, alerted: bool = False
) -> dict[str, Text]:
    event = row.event
    flashes = row.flashes
    cells: dict[str, Text] = {"symbol": cell(event.symbol, ALERT_STYLE if alerted else "bold", 40)}
    price_flash = flashes.get("index_price")
    price = flashed(event.index_price, price_flash, now.wall_ms)
    if price_flash is not None and now.wall_ms - price_flash.at_ms < FLASH_MS:
        # An arrow as well as a colour: direction must not depend on colour alone.
        arrow = "▲" if price_flash.direction > 0 else "▼" if price_flash.direction < 0 else "•"
        price.append(f" {arrow}", style="green" if price_flash.direction > 0 else "red")
    else:
        price.append("  ")
    cells["index_price"] = price
    cells["spark"] = Text(spark(row), style="cyan")
    change = asset_change(row)
    cells["change"] = (
        Text("")
        if change is None
        else Text(percent(change), style="green" if change > 0 else "red" if change < 0 else "")
    )
    for name in ASSET_DECIMAL_FIELDS[1:]:
        cells[name] = flashed(getattr(event, name), flashes.get(name), now.wall_ms)
    age_s = (now.wall_ms - event.event_time) / 1000.0
    style = "bold red" if age_s >= stale_after else "yellow" if age_s >= SILENT_AFTER_S else ""
    cells["age"] = Text(duration(age_s), style=style)
    return cells


def asset_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    """Title line and table, ``height`` lines at most."""
    if height <= 0:
        return []
    rows = sorted_assets(model)
    shown = rows[: max(0, height - 2)]
    title = Text("Asset index", style="bold")
    title.append(f"  {len(shown)} of {len(rows)}" if len(shown) < len(rows) else f"  {len(rows)}")
    title.append(f"  sort: {model.asset_sort}", style="dim")
    append_search(title, model)
    if not rows:
        title.append("  waiting for the first update…", style="yellow")
    rows_cells = [
        asset_cells(r, now, model.stale_after, model.alerted(r.event.symbol, now.wall_ms))
        for r in shown
    ]
    table = grid(ASSET_COLUMNS, rows_cells, width)
    return titled(title, table if height >= 2 else None, width)


# --- collateral --------------------------------------------------------------

COLLATERAL_COLUMNS: Final = (
    Column("asset", "holding", priority=0, max_width=12),
    Column("quantity", "quantity", "right", priority=0, max_width=30),
    Column("rate", "rate used", "right", priority=1, max_width=28),
    Column("value", "value (USD)", "right", priority=0, max_width=36),
    Column("haircut", "haircut", "right", priority=2, max_width=36),
    Column("share", "share", "right", priority=1, max_width=8),
)


def collateral_need(model: ScreenModel) -> int:
    """Lines the collateral section would like: title, header, one per asset."""
    report = model.collateral
    if report is None or ASSETS not in model.kinds:
        return 0
    return 2 + max(1, len(report.assets))


def _collateral_cells(report: CollateralReport, row: AssetValue) -> dict[str, Text]:
    negative = row.quantity < 0
    cells = {
        "asset": cell(row.asset, "bold", 20),
        "quantity": Text(plain(row.quantity), style="red" if negative else ""),
    }
    if row.value is None or row.rate is None or row.haircut is None:
        cells["rate"] = Text(f"unvalued: no {safe(row.symbol, 24)}", style="yellow")
        cells["value"] = cells["haircut"] = cells["share"] = Text("")
        return cells
    # The side of the book used is half the rule: say which.
    cells["rate"] = Text(f"{'ask' if negative else 'bid'} {safe(row.rate, 24)}")
    cells["value"] = Text(trimmed(row.value), style="red" if row.value < 0 else "")
    cells["haircut"] = Text(trimmed(row.haircut), style="dim")
    share = report.share(row)
    cells["share"] = Text("" if share is None else f"{share}%")
    return cells


def collateral_section(
    model: ScreenModel, width: int, height: int, now: Now
) -> list[RenderableType]:
    """Holdings valued as Binance does (bid rate for a balance ≥ 0, ask rate below)."""
    report = model.collateral
    if report is None or height <= 0:
        return []
    title = Text("Collateral", style="bold")
    title.append("  total ")
    title.append(trimmed(report.total_value), style="bold")
    title.append(" USD", style="dim")
    if report.exchange_total is not None:
        title.append("  exchange says ")
        title.append(safe(report.exchange_total, 40), style="bold")
    title.append(f"  haircut {trimmed(report.total_haircut)}", style="dim")
    unvalued = sum(1 for a in report.assets if a.value is None)
    if unvalued:
        title.append(f"  {unvalued} unvalued", style="yellow")
    title.append(f"  at {clock_time(report.event_time, now.wall_ms)}", style="dim")
    shown = report.assets[: max(0, height - 2)]
    rows = [_collateral_cells(report, a) for a in shown]
    table = grid(COLLATERAL_COLUMNS, rows, width) if height >= 2 else None
    return titled(title, table, width)
