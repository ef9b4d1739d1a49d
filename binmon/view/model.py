"""The screen model: everything the live tables show, its rows, and how events,
alerts and keys update it.

The renderers (:mod:`binmon.view.screen` and the section modules) keep on it
what must outlive a frame: the scroll position, the paused screen, and the
caches that bound a frame's cost, the contract order (filtered and sorted
once per change, keyed on ``contracts_version``) and each visible row
(formatted once until its contract changes).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import RenderableType
from rich.text import Text

from binmon.alerts import Alert
from binmon.collateral import CollateralReport
from binmon.filters import Filters, SymbolSearch
from binmon.positions import Exposure, Positions, PositionUpdate
from binmon.protocol import ASSET_DECIMAL_FIELDS, AssetIndex, ContractInfo
from binmon.state import Change, Contract
from binmon.status import StreamStatus
from binmon.upcoming import Upcoming
from binmon.view.format import direction, first_difference, safe, to_float
from binmon.view.words import describe, position_move_text

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
    # The sparkline drawn from ``history`` and what the history was then
    # (length, first and last point): repaints between frames reuse it.
    spark: tuple[tuple[int, tuple[float, float], tuple[float, float]], str] | None = None


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


# --- the contract rows in order ------------------------------------------------


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
