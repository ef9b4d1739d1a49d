"""The screen model and the pure functions that render it as rich renderables.

No I/O and no clocks: every render function takes ``now`` (wall-clock epoch
ms for exchange times, monotonic seconds for connection health), so a golden
test can pin the screen to the character.

Network strings reach the screen only through :func:`binmon.view.format.safe`
(control characters made visible) inside plain ``rich.text.Text`` objects:
never markup, never raw escape sequences.

Timing a frame (what the live view does on each paint)::

    import io, time
    from rich.console import Console
    from rich.screen import Screen
    from binmon.view import Now, ScreenModel, render_screen

    model = ScreenModel(kinds=("contract info",), contracts=book.contracts)  # e.g. 700
    console = Console(width=200, height=50, file=io.StringIO(), force_terminal=True)
    t0 = time.perf_counter()
    console.print(Screen(render_screen(model, 200, 50, Now.current())))
    elapsed_ms = (time.perf_counter() - t0) * 1000

The cost is bounded by the visible rows, not by the number of contracts:
contracts are filtered and sorted once per change (cached on
``contracts_version``), sliced to the rows that fit, and only those rows are
formatted (cached per contract until it changes).
"""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

# A module, not names: binmon.upcoming_view imports binmon.view.format, so it
# may still be loading (it imported this package) when this module runs.
import binmon.upcoming_view as upcoming_view
from binmon.alerts import Alert
from binmon.brackets_view import Ladder, brackets_table
from binmon.collateral import AssetValue, CollateralReport, plain, trimmed
from binmon.filters import Filters, SymbolSearch
from binmon.leverage import BracketError
from binmon.positions import Exposure, Positions, PositionUpdate
from binmon.protocol import (
    ASSET_DECIMAL_FIELDS,
    PERPETUAL_FROM_MS,
    AssetIndex,
    Bracket,
    ContractInfo,
)
from binmon.state import Change, Contract
from binmon.status import StreamStatus
from binmon.upcoming import Upcoming, upcoming
from binmon.view.format import (
    clock_time,
    date_time,
    delivery_text,
    direction,
    duration,
    first_difference,
    lag_text,
    percent,
    rate,
    safe,
    sparkline,
    timestamp,
    to_float,
    utc_date,
)

# The runner's stream names (binmon.runner imports aiohttp; this module must not).
ASSETS: Final = "asset index"
CONTRACTS: Final = "contract info"

FLASH_MS: Final = 1500.0
# An alert's row stays marked longer than a value's flash: it must be seen.
ALERT_FLASH_MS: Final = 10_000.0
ALERT_STYLE: Final = "bold reverse red"
SPARK_WINDOW_MS: Final = 5 * 60_000.0
SPARK_WIDTH: Final = 12
RECENT_CHANGE_MS: Final = 60_000.0
# Changes kept per contract for its detail view: a whole run's worth for all
# but the busiest, and bounded for those.
HISTORY_PER_CONTRACT: Final = 100
PROMPT_LIMIT: Final = 40
# The asset index ticks every second: this much silence is worth a warning
# long before the connection's own watchdog recycles it.
SILENT_AFTER_S: Final = 3.0
LOG_LINES: Final = 8

ASSET_SORTS: Final = ("symbol", "change", "price")
CONTRACT_SORTS: Final = ("recent", "symbol")

Justify = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class Now:
    """The two clocks a screen depends on."""

    wall_ms: float  # epoch milliseconds, comparable with the exchange's ``E``
    mono: float  # time.monotonic(), comparable with StreamStatus times

    @classmethod
    def current(cls) -> Now:
        return cls(time.time() * 1000.0, time.monotonic())


# --- the model ---------------------------------------------------------------


@dataclass(slots=True)
class Flash:
    direction: int  # +1 up, -1 down, 0 changed but not comparable
    start: int  # first changed character
    at_ms: float


@dataclass(slots=True)
class AssetRow:
    event: AssetIndex
    flashes: dict[str, Flash] = field(default_factory=dict)
    # (event time ms, index price) for the sparkline; a shape, never displayed as a number.
    history: deque[tuple[float, float]] = field(
        default_factory=lambda: deque(maxlen=int(SPARK_WINDOW_MS // 1000) + 2)
    )


@dataclass(slots=True)
class LogEntry:
    time_ms: int
    symbol: str  # already safe
    text: Text


@dataclass
class ScreenModel:
    """Everything the screen shows; mutated by the live view, read by renderers."""

    kinds: tuple[str, ...] = (ASSETS, CONTRACTS)
    command: str = "watch"
    demo: bool = False
    replay: str | None = None  # the recording being replayed, if any
    filters: Filters = field(default_factory=Filters)
    # Shared with the runner's ContractBook: the feed updates it before the view hears of it.
    contracts: Mapping[str, Contract] = field(default_factory=dict)
    statuses: Mapping[str, StreamStatus] = field(default_factory=dict)
    assets: dict[str, AssetRow] = field(default_factory=dict)
    log: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=200))
    messages: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=20))
    asset_sort: str = "symbol"
    contract_sort: str = "recent"
    contract_offset: int = 0
    # Contract rows that fitted at the last draw: a page for PgUp/PgDn.
    contract_page: int = 10
    # Bumped on every contract event or snapshot: invalidates the row order cache.
    contracts_version: int = 0
    # Event lag measured when each stream's last event arrived (ms).
    lag_ms: dict[str, float] = field(default_factory=dict)
    # The connection's --stale-after: ages beyond it are shown as alarming.
    stale_after: float = 10.0
    # Symbols with a recent alert (wall ms it was raised): their rows are marked.
    alert_flashes: dict[str, float] = field(default_factory=dict)
    alerts_logged: int = 0
    # The latest valuation of the user's holdings (--hold, --account).
    collateral: CollateralReport | None = None
    # The user's positions, read against the contract book's ladders.
    positions: Positions | None = None
    # Per symbol: where the position stood before the last bracket event that
    # moved it, and when that event was shown (epoch ms).
    position_moves: dict[str, tuple[Exposure, float]] = field(default_factory=dict)
    # -- what the keys set -----------------------------------------------------
    # The applied `/` filter, and the text being typed while its prompt is open.
    search: SymbolSearch | None = None
    prompt: str | None = None
    help_shown: bool = False
    show_upcoming: bool = False
    # The selected contract (by symbol, so it stays put while rows reorder)
    # and the contract whose detail is open.
    selected: str | None = None
    detail: str | None = None
    # Paused: the tables stay as they were (``frozen``) while events are still
    # applied and counted, so resuming shows the present at once.
    paused_at_ms: float | None = None
    paused_events: int = 0
    frozen: tuple[tuple[int, int], list[RenderableType]] | None = None
    # Every change of this run per contract, newest first, for the detail view:
    # (event time, change), the Change shared with the book's last_change and
    # put in words only when shown.
    history: dict[str, deque[tuple[int, Change]]] = field(default_factory=dict)
    _order_key: tuple[Any, ...] | None = None
    _order: list[Contract] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    _row_cache: dict[str, tuple[tuple[Any, ...], list[Text]]] = field(default_factory=dict)
    _upcoming_key: tuple[Any, ...] | None = None
    _upcoming: list[Upcoming] = field(default_factory=list)
    _upcoming_at: int = 0

    # -- updates (called by the live view) ------------------------------------

    def apply_assets(self, events: Iterable[AssetIndex], now_ms: float) -> None:
        for event in events:
            row = self.assets.get(event.symbol)
            if row is None:
                row = self.assets[event.symbol] = AssetRow(event)
                _sample(row, event)
                continue
            old = row.event
            if event.event_time < old.event_time:
                continue  # a REST seed that lost the race with the stream
            if event != old:
                for name in ASSET_DECIMAL_FIELDS:
                    before, after = getattr(old, name), getattr(event, name)
                    if before != after:
                        row.flashes[name] = Flash(
                            direction(before, after), first_difference(before, after), now_ms
                        )
            row.event = event
            _sample(row, event)

    def apply_contract(self, event: ContractInfo, changes: Sequence[Change]) -> None:
        self.contracts_version += 1
        symbol = safe(event.symbol, 40)
        entries = [LogEntry(event.event_time, symbol, describe(c)) for c in changes]
        if len(entries) > 4:
            # A bracket schedule change touches dozens of fields: keep the log readable.
            rest = len(entries) - 3
            entries = [*entries[:3], LogEntry(event.event_time, symbol, Text(f"… {rest} more"))]
        # Newest first, but an event's own changes keep their order.
        self.log.extendleft(reversed(entries))
        if changes:
            history = self.history.get(event.symbol)
            if history is None:
                history = self.history[event.symbol] = deque(maxlen=HISTORY_PER_CONTRACT)
            history.extendleft((event.event_time, c) for c in reversed(changes))

    def symbol_visible(self, symbol: str) -> bool:
        """Kept by both the command-line filters and the `/` filter."""
        search = self.search
        return self.filters.symbol_ok(symbol) and (search is None or search.matches(symbol))

    # -- what the keys do (the live view maps bytes to these) -----------------------

    def apply_search(self, text: str) -> None:
        self.search = SymbolSearch.parse(text)
        self.prompt = None
        self.contract_offset = 0
        self.frozen = None

    def pause(self, now_ms: float) -> None:
        if self.paused_at_ms is None:
            self.paused_at_ms, self.paused_events, self.frozen = now_ms, 0, None
        else:
            self.paused_at_ms, self.paused_events, self.frozen = None, 0, None

    def move_selection(self, delta: int) -> None:
        """Move the selection ``delta`` rows (clamped); the first move selects
        the top visible row. The table scrolls to keep it in sight."""
        order = ordered_contracts(self)
        if not order:
            return
        current = self._index.get(self.selected) if self.selected is not None else None
        if current is None:
            top = max(0, min(self.contract_offset, len(order) - 1))
            target = top if abs(delta) == 1 else top + delta
        else:
            target = current + delta
        self.selected = order[max(0, min(target, len(order) - 1))].symbol
        self.frozen = None

    def open_detail(self) -> None:
        """The selected contract's detail; with none selected, the top row's."""
        ordered_contracts(self)  # the index of the rows as they are now
        if self.selected is None or self.selected not in self._index:
            self.move_selection(0)
        self.detail = self.selected
        self.frozen = None

    def apply_alert(self, alert: Alert, now_ms: float) -> None:
        """An alert in the change log, marked as one, and its symbol's row marked."""
        symbol = safe(alert.symbol, 40) if alert.symbol is not None else "feed"
        message = alert.message
        if alert.symbol is not None and message.startswith(f"{symbol} "):
            message = message[len(symbol) + 1 :]  # the log has a column for it
        # The message names what happened ("leverage cut: …", "listed: …").
        text = Text("ALERT", style=ALERT_STYLE)
        text.append(" ")
        text.append(safe(message, 300), style="bold")
        when = alert.event_time if alert.event_time is not None else int(now_ms)
        self.log.appendleft(LogEntry(when, symbol, text))
        self.alerts_logged += 1
        if alert.symbol is not None:
            self.alert_flashes[alert.symbol] = now_ms

    def alerted(self, symbol: str, now_ms: float) -> bool:
        at = self.alert_flashes.get(symbol)
        return at is not None and now_ms - at < ALERT_FLASH_MS

    def apply_position(self, update: PositionUpdate, now_ms: float) -> None:
        """A bracket event moved a position: highlight it, and say so in the log."""
        if not update.moved or update.before is None:
            return
        self.position_moves[update.symbol] = (update.before, now_ms)
        self.contracts_version += 1
        text = Text("your position: ", style="bold yellow")
        text.append_text(position_move_text(update.before, update.now))
        self.log.appendleft(LogEntry(int(now_ms), safe(update.symbol, 40), text))

    def message(self, line: str, now_ms: float) -> None:
        self.messages.append((now_ms, safe(line, 300)))

    def next_flash_expiry(self) -> float | None:
        """When the next highlight ends (epoch ms), so the view can repaint then."""
        ends = [f.at_ms + FLASH_MS for row in self.assets.values() for f in row.flashes.values()]
        ends += [at + ALERT_FLASH_MS for at in self.alert_flashes.values()]
        return min(ends) if ends else None

    def expire_flashes(self, now_ms: float) -> None:
        for row in self.assets.values():
            if row.flashes:
                row.flashes = {k: f for k, f in row.flashes.items() if now_ms - f.at_ms < FLASH_MS}
        if self.alert_flashes:
            self.alert_flashes = {
                s: at for s, at in self.alert_flashes.items() if now_ms - at < ALERT_FLASH_MS
            }


def _sample(row: AssetRow, event: AssetIndex) -> None:
    price = to_float(event.index_price)
    if price is None:
        return
    history = row.history
    t = float(event.event_time)
    if history and t <= history[-1][0]:
        return
    # One point per second of exchange time is all a 12-cell sparkline of five
    # minutes can use; per-asset streams may tick faster than that.
    if history and t // 1000 == history[-1][0] // 1000:
        history[-1] = (t, price)
    else:
        history.append((t, price))
    while history and history[0][0] < t - SPARK_WINDOW_MS:
        history.popleft()


# --- words for changes --------------------------------------------------------

STATUS_STYLES: Final = {
    "TRADING": "bold green",
    "PENDING_TRADING": "yellow",
    "PRE_DELIVERING": "magenta",
    "DELIVERING": "magenta",
    "PRE_SETTLE": "magenta",
    "SETTLING": "red",
    "DELIVERED": "dim",
    "CLOSE": "dim",
}

_BRACKET_FIELDS: Final = {
    "notional_floor": ("notional floor", "floor"),
    "notional_cap": ("notional cap", "cap"),
    "maint_margin_ratio": ("maint. margin ratio", "mmr"),
    "cum": ("cum", "cum"),
    "min_leverage": ("min leverage", "min lev"),
    "max_leverage": ("max leverage", "max lev"),
}
_FIELDS: Final = {
    "contract_type": ("contract type", "type"),
    "pair": ("pair", "pair"),
    "delivery_time": ("delivery", "delivery"),
    "onboard_time": ("onboard", "onboard"),
}


def status_text(status: str | None) -> Text:
    if status is None:
        return Text("")
    # Unknown statuses stay plain: colour must mean something.
    return Text(safe(status, 40), style=STATUS_STYLES.get(status, ""))


def _value(name: str, value: object) -> str:
    if value is None:
        return "none"
    if name in ("delivery_time", "onboard_time") and isinstance(value, int):
        return date_time(value)
    return safe(value, 40)


def describe(change: Change, short: bool = False) -> Text:
    """One change in words: ``TRADING → SETTLING``, ``bracket 1 max leverage 125 → 100``."""
    i = 1 if short else 0
    arrow = " → "
    if change.field == "listed":
        text = Text("listed")
        if isinstance(change.new, str):
            text.append(" ")
            text.append_text(status_text(change.new) if short else _paren(change.new))
        return text
    if change.field == "status":
        text = status_text(change.old)
        text.append(arrow)
        text.append_text(status_text(change.new))
        return text
    if change.field == "bracket":
        word = "added" if change.old is None else "removed" if change.new is None else "changed"
        text = Text(f"bracket {change.bracket} {word}")
        added = change.new if isinstance(change.new, Bracket) else None
        if added is not None and not short and added.max_leverage is not None:
            text.append(f" (max leverage {safe(added.max_leverage, 20)})", style="dim")
        return text
    if change.field in _BRACKET_FIELDS:
        label = _BRACKET_FIELDS[change.field][i]
        prefix = f"b{change.bracket}" if short else f"bracket {change.bracket}"
        return Text(f"{prefix} {label} {_value(change.field, change.old)}{arrow}") + Text(
            _value(change.field, change.new), style="bold"
        )
    label = _FIELDS.get(change.field, (safe(change.field, 30),) * 2)[i]
    return Text(f"{label} {_value(change.field, change.old)}{arrow}") + Text(
        _value(change.field, change.new), style="bold"
    )


def _paren(status: str) -> Text:
    text = Text("(")
    text.append_text(status_text(status))
    text.append(")")
    return text


def last_change_text(contract: Contract) -> Text:
    if not contract.last_change:
        return Text("")
    text = describe(contract.last_change[0], short=True)
    more = len(contract.last_change) - 1
    if more:
        text.append(f" +{more}", style="dim")
    return text


# --- columns -----------------------------------------------------------------


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
    if not row.history:
        return ""
    first, latest = row.history[0][0], row.history[-1][0]
    start = max(latest - SPARK_WINDOW_MS, min(first, latest - SPARK_WIDTH * 1000.0))
    return sparkline(row.history, SPARK_WIDTH, start, latest + 1)


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
    _append_search(title, model)
    if not rows:
        title.append("  waiting for the first update…", style="yellow")
    rows_cells = [
        asset_cells(r, now, model.stale_after, model.alerted(r.event.symbol, now.wall_ms))
        for r in shown
    ]
    table = grid(ASSET_COLUMNS, rows_cells, width)
    return _section(title, table if height >= 2 else None, width)


def _append_search(title: Text, model: ScreenModel) -> None:
    if model.search is not None:
        title.append("  filter: ", style="bold")
        title.append(safe(model.search.text, PROMPT_LIMIT), style="bold reverse")


def _section(title: Text, table: list[Text] | None, width: int) -> list[RenderableType]:
    return [_line(title, width)] if table is None else [_line(title, width), *table]


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
    return _section(title, table, width)


def _leverage_text(value: str | None) -> str:
    return "-" if value is None else f"{safe(value, 8)}x"


def _margin_text(e: Exposure) -> str:
    return "-" if e.maintenance_margin is None else trimmed(e.maintenance_margin)


def position_move_text(before: Exposure, now: Exposure) -> Text:
    """``bracket 1 → 2, max lev 150x → 75x, maint. margin 1000 → 1375``."""
    text = Text()
    parts = [
        ("bracket", str(before.bracket or "-"), str(now.bracket or "-")),
        ("max lev", _leverage_text(before.max_leverage), _leverage_text(now.max_leverage)),
        ("maint. margin", _margin_text(before), _margin_text(now)),
    ]
    first = True
    for label, old, new in parts:
        if old == new:
            continue
        if not first:
            text.append(", ")
        first = False
        text.append(f"{label} {old} → ")
        text.append(new, style="bold")
    return text if not first else Text("same terms on the new ladder")


# --- contract table ----------------------------------------------------------

CONTRACT_COLUMNS: Final = (
    Column("symbol", "symbol", priority=0, max_width=20),
    Column("pair", "pair", priority=7, max_width=20),
    Column("market", "mkt", priority=5, max_width=3),
    Column("type", "type", priority=3, max_width=20),
    Column("status", "status", priority=0, max_width=16),
    Column("onboard", "onboard", priority=6, max_width=10),
    Column("delivery", "delivery", priority=2, max_width=10),
    Column("brackets", "bks", "right", priority=4, max_width=3),
    Column("leverage", "lev", "right", priority=4, max_width=5),
    Column("change", "last change", priority=1, max_width=44, min_width=24),
    Column("when", "when", priority=1, max_width=16),
)


def contract_visible(filters: Filters, contract: Contract) -> bool:
    # Contract has the attributes contract_ok reads (symbol, status,
    # contract_type, market): reuse it so the table and the JSON agree.
    if not filters.contract_ok(contract):  # type: ignore[arg-type]
        return False
    return not (filters.changes_only and not contract.last_change)


def ordered_contracts(model: ScreenModel) -> list[Contract]:
    """Filtered and sorted contracts, recomputed only when something changed."""
    search = model.search
    positions = model.positions
    key = (
        model.contracts_version,
        len(model.contracts),
        model.contract_sort,
        model.filters,
        search,
        None if positions is None else positions.version,
    )
    if model._order_key != key:
        visible = [c for c in model.contracts.values() if contract_visible(model.filters, c)]
        if search is not None:
            visible = [c for c in visible if search.matches(c.symbol)]
        visible.sort(key=lambda c: c.symbol)
        if model.contract_sort == "recent":
            # Stable sort: recently changed first, the rest stay in symbol order.
            visible.sort(key=lambda c: -(c.last_change_time or 0))
        if positions:
            # The user's own symbols first, whatever the order.
            visible.sort(key=lambda c: c.symbol not in positions)
        model._order = visible
        model._index = {c.symbol: i for i, c in enumerate(visible)}
        model._order_key = key
    return model._order


def top_leverage(brackets: dict[int, Bracket] | None) -> str:
    """The highest max leverage of any bracket, in the exchange's own digits."""
    if not brackets:
        return ""
    ranked = [(v, b.max_leverage) for b in brackets.values() if (v := to_float(b.max_leverage))]
    if not ranked:
        return ""
    return f"{safe(max(ranked)[1], 8)}x"


def contract_cells(contract: Contract, now: Now, alerted: bool = False) -> list[Text]:
    recent = (
        contract.last_change_time is not None
        and now.wall_ms - contract.last_change_time < RECENT_CHANGE_MS
    )
    symbol_style = ALERT_STYLE if alerted else "bold yellow" if recent else "bold"
    return [
        cell(contract.symbol, symbol_style, 40),
        cell(contract.pair, limit=40),
        cell(contract.market, limit=10),
        cell(contract.contract_type, limit=40),
        status_text(contract.status),
        Text(utc_date(contract.onboard_time) if contract.onboard_time is not None else ""),
        Text(delivery_text(contract.delivery_time)),
        Text(str(len(contract.brackets)) if contract.brackets else ""),
        Text(top_leverage(contract.brackets)),
        last_change_text(contract),
        Text(
            clock_time(contract.last_change_time, now.wall_ms)
            if contract.last_change_time is not None
            else "",
            style="yellow" if recent else "",
        ),
    ]


_CONTRACT_KEYS: Final = tuple(c.key for c in CONTRACT_COLUMNS)

# Shown only when the user has positions: their place on each symbol's ladder.
POSITION_COLUMNS: Final = (
    Column("pos_bracket", "pos bkt", "right", priority=1, max_width=7),
    Column("pos_leverage", "pos lev", "right", priority=1, max_width=8),
    Column("pos_margin", "maint. margin", "right", priority=1, max_width=24),
)
_POSITION_AFTER: Final = _CONTRACT_KEYS.index("leverage") + 1
CONTRACT_COLUMNS_WITH_POSITIONS: Final = (
    *CONTRACT_COLUMNS[:_POSITION_AFTER],
    *POSITION_COLUMNS,
    *CONTRACT_COLUMNS[_POSITION_AFTER:],
)


def position_cells(model: ScreenModel, contract: Contract, now: Now) -> dict[str, Text]:
    """The position's bracket, max leverage and maintenance margin; empty without one.

    A bracket event that moved the position shows ``old→new`` highlighted for a minute.
    """
    positions = model.positions
    exposure = None if positions is None else positions.of(contract.symbol)
    if exposure is None:
        return {c.key: Text("") for c in POSITION_COLUMNS}
    moved = model.position_moves.get(contract.symbol)
    recent = moved is not None and now.wall_ms - moved[1] < RECENT_CHANGE_MS
    style = "bold reverse yellow" if recent else "bold"
    before = moved[0] if moved is not None and recent else None
    values = {
        "pos_bracket": (
            str(exposure.bracket or "-"),
            None if before is None else str(before.bracket or "-"),
        ),
        "pos_leverage": (
            _leverage_text(exposure.max_leverage),
            None if before is None else _leverage_text(before.max_leverage),
        ),
        "pos_margin": (_margin_text(exposure), None if before is None else _margin_text(before)),
    }
    cells = {}
    for key, (new, old) in values.items():
        if old is not None and old != new:
            text = Text(f"{old}→", style="dim")
            text.append(new, style=style)
        else:
            text = Text(new, style="bold" if exposure.bracket is not None else "yellow")
        cells[key] = text
    return cells


def _contract_row(model: ScreenModel, contract: Contract, now: Now) -> dict[str, Text]:
    recent = (
        contract.last_change_time is not None
        and now.wall_ms - contract.last_change_time < RECENT_CHANGE_MS
    )
    alerted = model.alerted(contract.symbol, now.wall_ms)
    # What a row's text depends on: a cached row is reused until one of these moves.
    key = (
        id(contract),
        id(contract.brackets),
        contract.last_event_time,
        contract.last_change_time,
        contract.status,
        recent,
        alerted,
        int(now.wall_ms // 86_400_000),
    )
    cached = model._row_cache.get(contract.symbol)
    if cached is None or cached[0] != key:
        cached = (key, contract_cells(contract, now, alerted))
        model._row_cache[contract.symbol] = cached
    return dict(zip(_CONTRACT_KEYS, cached[1], strict=True))


def contract_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    if height <= 0:
        return []
    ordered = ordered_contracts(model)
    capacity = max(0, height - 2)
    selected = model._index.get(model.selected) if model.selected is not None else None
    offset = model.contract_offset
    if selected is not None and capacity:
        # The table follows the selection.
        offset = min(max(offset, selected - capacity + 1), selected)
    offset = max(0, min(offset, len(ordered) - capacity))
    model.contract_offset = offset
    model.contract_page = max(1, capacity)
    shown = ordered[offset : offset + capacity]
    title = Text("Contracts", style="bold")
    total = len(model.contracts)
    if len(ordered) != total:
        title.append(f"  {len(ordered)} of {total} match the filters")
    else:
        title.append(f"  {total}")
    _append_search(title, model)
    if shown and len(shown) < len(ordered):
        title.append(f"  rows {offset + 1}–{offset + len(shown)}", style="dim")
    order = "recent changes first" if model.contract_sort == "recent" else "by symbol"
    title.append(f"  {order}, times UTC", style="dim")
    if not model.contracts:
        title.append("  waiting for exchangeInfo…", style="yellow")
    rows = [_contract_row(model, c, now) for c in shown]
    columns: tuple[Column, ...] = CONTRACT_COLUMNS
    if model.positions:
        columns = CONTRACT_COLUMNS_WITH_POSITIONS
        for row, contract in zip(rows, shown, strict=True):
            row.update(position_cells(model, contract, now))
    table = grid(columns, rows, width) if height >= 2 else None
    if table is not None and selected is not None and offset <= selected < offset + len(shown):
        line = table[1 + selected - offset]
        line.pad_right(width - line.cell_len)  # the highlight spans the row
        line.stylize("reverse")
    return _section(title, table, width)


# --- upcoming listings and deliveries -----------------------------------------

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
    _append_search(title, model)
    title.append("  (u hides)", style="dim")
    if not events:
        title.append("  none scheduled", style="dim")
        return [_line(title, width)]
    table = grid(UPCOMING_COLUMNS, [upcoming_cells(e, now.wall_ms) for e in shown], width)
    return _section(title, table if height >= 2 else None, width)


# --- contract detail -----------------------------------------------------------

# Draws the brackets table and ladder of `binmon brackets` into lines of Text.
_DETAIL_CONSOLE: Console | None = None


def _render_lines(renderable: RenderableType, width: int) -> list[Text]:
    global _DETAIL_CONSOLE
    console = _DETAIL_CONSOLE
    if console is None:
        console = _DETAIL_CONSOLE = Console(
            file=io.StringIO(),
            force_terminal=True,
            color_system="truecolor",
            legacy_windows=False,
            markup=False,
            emoji=False,
            highlight=False,
        )
    options = console.options.update(width=max(1, width), no_wrap=False)
    out = []
    for segments in console.render_lines(renderable, options, pad=False):
        line = Text(no_wrap=True, overflow="ellipsis")
        for segment in segments:
            if not segment.control:
                line.append(segment.text, segment.style)
        line.rstrip()
        out.append(line)
    return out


def _when_text(label: str, ms: int | None, now_ms: float) -> Text:
    text = Text(f"{label} ", style="dim")
    if ms is None:
        text.append("unknown")
        return text
    text.append(date_time(ms))
    if ms < PERPETUAL_FROM_MS and ms > now_ms:
        text.append(f" (in {duration((ms - now_ms) / 1000)})", style="bold yellow")
    return text


def detail_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    """One contract: what is known of it, its bracket ladder, its changes this run."""
    if height <= 0 or model.detail is None:
        return []
    symbol = model.detail
    contract = model.contracts.get(symbol)
    title = Text(safe(symbol, 40), style="bold")
    if contract is not None:
        for value in (contract.contract_type, contract.market):
            if value:
                title.append(f"  {safe(value, 40)}")
        title.append("  ")
        title.append_text(status_text(contract.status))
        if contract.pair and contract.pair != symbol:
            title.append(f"  pair {safe(contract.pair, 40)}")
    title.append("  Esc back  ↑↓ other contracts", style="dim")
    out: list[Text] = [_line(title, width)]
    if contract is None:
        out.append(_line(Text("no longer known to the exchange", style="yellow"), width))
        return list(out[:height])
    times = _when_text("listing", contract.onboard_time, now.wall_ms)
    times.append("   ")
    times.append_text(_when_text("delivery", contract.delivery_time, now.wall_ms))
    out.append(_line(times, width))

    history = list(model.history.get(symbol, ()))
    changes = [Text("Changes seen this run", style="bold")]
    changes[0].append("  (UTC, newest first)", style="dim")
    if not history:
        changes.append(Text("none yet", style="dim"))
    for time_ms, change in history[: max(0, height)]:
        line = Text(clock_time(time_ms, now.wall_ms), style="dim")
        line.append("  ")
        line.append_text(describe(change))
        changes.append(line)
    # The ladder gets the room; the changes keep a few lines at the bottom.
    room = height - len(out) - 1
    keep = min(len(changes), max(2, room // 3))
    ladder_room = room - keep

    brackets = list(contract.brackets.values()) if contract.brackets else []
    picture: list[Text] = []
    if brackets:
        try:
            picture = _render_lines(_bracket_picture(symbol, brackets, width), width)
        except BracketError as exc:
            # The protocol lets only numbers through; say so rather than die if one slips.
            picture = [Text(f"The ladder cannot be drawn: {safe(exc, 200)}", style="yellow")]
    else:
        picture = [
            Text(
                "No brackets seen yet: the stream sends a ladder when it changes "
                f"(binmon brackets {safe(symbol, 40)} asks the exchange).",
                style="dim",
            )
        ]
    out += [_line(t, width) for t in picture[: max(0, ladder_room)]]
    out.append(Text(""))
    out += [_line(t, width) for t in changes[: max(0, height - len(out))]]
    return list(out[:height])


def _bracket_picture(symbol: str, brackets: list[Bracket], width: int) -> RenderableType:
    """The table and the ladder of ``binmon brackets``, side by side when they fit."""
    table = brackets_table(symbol, brackets)
    ladder = Ladder(brackets)
    if width >= 140:
        pair = RichTable.grid(padding=(0, 4))
        pair.add_column(no_wrap=True)
        pair.add_column()
        pair.add_row(table, ladder)
        return pair
    return Group(table, ladder)


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
    out: list[RenderableType] = [_line(Text("Keys  (any key closes this)", style="bold"), width)]
    pad = max(cell_len(k) for k, _ in HELP_KEYS)
    for key, what in HELP_KEYS:
        line = Text(f"  {key:<{pad}}  ", style="bold")
        line.append(what)
        out.append(_line(line, width))
    return out[:height]


# --- change log --------------------------------------------------------------


def log_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    if height <= 0:
        return []
    title = Text("Recent changes", style="bold")
    title.append("  (UTC, newest first)", style="dim")
    out: list[RenderableType] = [_line(title, width)]
    entries = list(model.log)[: height - 1]
    if not entries and height > 1:
        out.append(_line(Text("no changes yet", style="dim"), width))
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
        out.append(_line(line, width))
    return out


def _line(text: Text, width: int) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    text.truncate(width, overflow="ellipsis")
    return text


# --- status lines, header, footer ---------------------------------------------


def status_line(
    status: StreamStatus,
    now: Now,
    width: int,
    *,
    periodic: bool,
    lag_ms: float | None = None,
    replay: str | None = None,
) -> Text:
    """One stream's health. Trouble is spelled out in words, not colour alone."""
    line = Text(f"{status.name:<13} ", style="bold")
    silent = status.silent_for(now.mono)
    state = status.state
    if replay is not None:
        line.append(" ▶ REPLAY ", style="bold cyan")
        line.append(f" {safe(replay, 80)}", style="cyan")
    elif state == "connected" and periodic and silent is not None and silent >= SILENT_AFTER_S:
        line.append(f" ◌ SILENT {duration(silent)} ", style="bold reverse yellow")
    elif state == "connected":
        line.append(" ● CONNECTED ", style="bold green")
    elif state == "reconnecting":
        badge = " ↻ RECONNECTING"
        if status.next_retry_at is not None and status.next_retry_at > now.mono:
            badge += f" in {duration(status.next_retry_at - now.mono)}"
        line.append(f"{badge} ", style="bold reverse yellow")
    elif state == "stale":
        line.append(" ✖ STALE ", style="bold reverse red")
    elif state == "stopped":
        line.append(" ■ STOPPED ", style="bold reverse red")
    else:
        line.append(" … CONNECTING ", style="bold yellow")
    if status.reason and state in ("reconnecting", "stale"):
        line.append(f" {safe(status.reason, 120)}", style="yellow")
    parts: list[tuple[str, str]] = []
    parts.append((rate(status.rate), ""))
    if replay is not None:
        # Lag against the wall clock means nothing for a recording; where it is does.
        if status.last_event_time_ms is not None:
            parts.append((f"at {clock_time(status.last_event_time_ms, now.wall_ms)}", ""))
    else:
        lag = lag_ms if lag_ms is not None else status.lag_ms(now.wall_ms)
        if lag is not None:
            parts.append((f"lag {lag_text(lag)}", "yellow" if lag >= 2000 else ""))
    if status.last_message_at is not None:
        age = now.mono - status.last_message_at
        parts.append((f"last msg {duration(age)} ago", ""))
    elif replay is None:
        parts.append(("no message yet", "dim"))
    parts.append((f"reconnects {status.reconnects}", "yellow" if status.reconnects else ""))
    parts.append((f"malformed {status.malformed}", "red" if status.malformed else ""))
    if status.rotation_at is not None and replay is None:
        parts.append((f"rotation in {duration(status.rotation_at - now.mono)}", "dim"))
    if status.url:
        parts.append((safe(status.url, 200), "dim"))
    for text, style in parts:
        line.append("  ")
        line.append(text, style=style)
    return _line(line, width)


def header_line(model: ScreenModel, width: int, now: Now) -> Text:
    line = Text(f"binmon {model.command}", style="bold")
    if model.demo:
        line.append("  ")
        line.append(" DEMO DATA (local simulated exchange) ", style="bold reverse yellow")
    if model.replay is None:
        line.append(f"  {clock_time(now.wall_ms, now.wall_ms)} UTC", style="dim")
    else:
        line.append(f"  {timestamp(now.wall_ms)} UTC (recording)", style="dim")
    if model.paused_at_ms is not None:
        line.append("  ")
        line.append(" ⏸ PAUSED ", style="bold reverse yellow")
        since = clock_time(model.paused_at_ms, now.wall_ms)
        line.append(f" since {since}, {model.paused_events} events received  p resumes")
    # Most useful first: as many as fit, and always the way to the rest.
    keys = ["q quit", "? help", "/ filter"]
    if ASSETS in model.kinds:
        keys.append(f"s sort assets ({model.asset_sort})")
    if CONTRACTS in model.kinds:
        keys.append(f"c sort contracts ({model.contract_sort})")
        keys += ["↑↓ select", "Enter detail", "u upcoming"]
    keys.append("p pause")
    room = width - line.cell_len - 2
    hint = ""
    for key in keys:
        longer = f"{hint}  {key}" if hint else key
        if cell_len(longer) > room:
            break
        hint = longer
    if hint:
        line.append(" " * (room - cell_len(hint) + 2))
        line.append(hint, style="dim")
    return _line(line, width)


def footer_line(model: ScreenModel, width: int, now: Now) -> Text | None:
    if model.prompt is not None:
        line = Text("/", style="bold")
        line.append(safe(model.prompt, PROMPT_LIMIT))
        line.append("▏", style="blink")
        line.append("  filter symbols: a glob (btc*) or any part (btc)", style="dim")
        line.append("  Enter applies  Esc clears", style="dim")
        return _line(line, width)
    if not model.messages:
        return None
    at, message = model.messages[-1]
    style = "yellow" if "warning" in message or "Error" in message else "dim"
    line = Text(clock_time(at, now.wall_ms), style="dim")
    line.append("  ")
    line.append(message, style=style)
    return _line(line, width)


# --- the whole screen ----------------------------------------------------------


def body_sections(model: ScreenModel, width: int, body: int, now: Now) -> list[RenderableType]:
    """Everything between the status lines and the footer, one line each."""
    if model.detail is not None:
        return detail_section(model, width, body, now)
    upcoming_h = upcoming_height(model, body, now)
    rest = body - upcoming_h
    # Collateral sits under the asset index and takes at most a third of the screen.
    collateral_h = min(collateral_need(model), rest // 3)
    asset_h, contract_h, log_h = layout(model, rest - collateral_h)
    sections: list[RenderableType] = []
    if ASSETS in model.kinds:
        sections += asset_section(model, width, asset_h, now)
        sections += collateral_section(model, width, collateral_h, now)
    if CONTRACTS in model.kinds:
        sections += upcoming_section(model, width, upcoming_h, now)
        sections += contract_section(model, width, contract_h, now)
    # Assets alone have a log too once there is an alert (see layout).
    sections += log_section(model, width, log_h, now)
    return sections


def layout(model: ScreenModel, height: int) -> tuple[int, int, int]:
    """Lines for the asset section, the contract section and the change log.

    The asset list is short and wholly interesting, the contract list long
    and sorted by interest: assets get what they need (up to half), the log a
    few lines, contracts the rest; lines contracts cannot use go back to the
    log and then the assets.
    """
    has_assets = ASSETS in model.kinds
    rest = max(0, height)
    if CONTRACTS not in model.kinds:
        # Assets alone have a log only for alerts, and only once there is one.
        log = 1 + min(len(model.log), LOG_LINES) if model.alerts_logged and rest >= 9 else 0
        return rest - log, 0, log
    log_need = 1 + max(1, len(model.log))
    log = 0
    if rest >= 14:
        log = 1 + max(1, min(len(model.log), LOG_LINES, (rest - 10) // 4))
    elif rest >= 9:
        log = 2
    assets = asset_need = 0
    if has_assets:
        visible = model.symbol_visible
        asset_need = 2 + max(1, sum(1 for r in model.assets.values() if visible(r.event.symbol)))
        assets = min(asset_need, max(3, (rest - log) // 2), rest)
    contracts = max(0, rest - log - assets)
    if contracts < 3 and log:
        # Too short for three sections: keep the tables, drop the log.
        contracts, log = contracts + log, 0
    spare = contracts - (2 + max(1, len(ordered_contracts(model))))
    if spare > 0:
        contracts -= spare
        if log:
            grow = min(spare, log_need - log)
            log, spare = log + grow, spare - grow
        grow = min(spare, asset_need - assets)
        assets, spare = assets + grow, spare - grow
        contracts += spare
    return assets, contracts, log


def render_screen(
    model: ScreenModel, width: int, height: int, now: Now | None = None
) -> RenderableType:
    """The whole screen for a ``width`` × ``height`` terminal: exactly ``height``
    lines of at most ``width`` cells, the last one the latest diagnostic."""
    now = now or Now.current()
    if model.replay is not None:
        # A recording keeps its own time: ages, "today" and highlights are
        # measured against its latest event, not against the wall clock.
        latest = max(
            (s.last_event_time_ms for s in model.statuses.values() if s.last_event_time_ms),
            default=None,
        )
        if latest is not None:
            now = Now(float(latest), now.mono)
    model.expire_flashes(now.wall_ms)
    top: list[RenderableType] = [header_line(model, width, now)]
    for kind in model.kinds:
        status = model.statuses.get(kind)
        if status is not None:
            top.append(
                status_line(
                    status,
                    now,
                    width,
                    periodic=kind == ASSETS,
                    lag_ms=model.lag_ms.get(kind),
                    replay=model.replay,
                )
            )
    footer = footer_line(model, width, now)
    bottom: list[RenderableType] = [] if footer is None else [footer]
    body = height - len(top) - len(bottom)
    if body < 0:
        return Group(*(top + bottom)[: max(height, 0)])
    if model.help_shown:
        sections = help_section(width, body)
    elif model.frozen is not None and model.frozen[0] == (width, height):
        sections = model.frozen[1]  # paused: the tables as they were
    else:
        sections = body_sections(model, width, body, now)
        if model.paused_at_ms is not None:
            model.frozen = ((width, height), sections)
    # Every renderable here is one line: pad so the footer sits on the last row.
    filler = [Text("") for _ in range(body - len(sections))]
    return Group(*top, *sections, *filler, *bottom)
