"""Alerts: which events deserve a person's attention, in one line each. Pure.

Contract alerts are derived from an event and the ``changes`` the contract
state computed for it, so they inherit the Feed's dedupe: an event that
arrives twice is dropped before it gets here, and an event equal to the
state raises nothing. Buffer alerts compare each asset with the last values
seen for it; feed alerts watch the streams' health with an injected clock.

A message is one line of printable text: strings from the network pass
through :func:`binmon.diag.printable`, so a message can go to a terminal, a
desktop notification or a command's environment as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from msgspec import Struct

from binmon.diag import printable
from binmon.protocol import BRACKET_NUMBER_FIELDS, PERPETUAL_DELIVERY_MS, AssetIndex, ContractInfo
from binmon.state import Change
from binmon.status import StreamStatus

LISTING: Final = "listing"
DELISTING: Final = "delisting"
STATUS: Final = "status"
BRACKETS: Final = "brackets"
LEVERAGE_CUT: Final = "leverage-cut"
POSITION: Final = "position"
BUFFER: Final = "buffer"
FEED: Final = "feed"
ALL: Final = "all"

# In the order of SPEC's table; an event's alerts come out in this order too.
KINDS: Final = (LISTING, DELISTING, STATUS, BRACKETS, LEVERAGE_CUT, POSITION, BUFFER, FEED)
CONTRACT_KINDS: Final = frozenset({LISTING, DELISTING, STATUS, BRACKETS, LEVERAGE_CUT, POSITION})

# Statuses on the way out (SPEC "Alerts", delisting).
DELISTING_STATUSES: Final = frozenset(
    {"PRE_DELIVERING", "DELIVERING", "DELIVERED", "PRE_SETTLE", "SETTLING", "CLOSE"}
)
BUFFER_FIELDS: Final = (
    "bid_buffer",
    "ask_buffer",
    "auto_exchange_bid_buffer",
    "auto_exchange_ask_buffer",
)

_FIELD_WORDS: Final = {
    "notional_floor": "floor",
    "notional_cap": "cap",
    "maint_margin_ratio": "maint margin ratio",
    "cum": "cum",
    "min_leverage": "min leverage",
    "max_leverage": "max leverage",
    "bid_buffer": "bid buffer",
    "ask_buffer": "ask buffer",
    "auto_exchange_bid_buffer": "auto-exchange bid buffer",
    "auto_exchange_ask_buffer": "auto-exchange ask buffer",
}
# A message stays one readable line: past this many items, "and N more".
_MAX_ITEMS: Final = 4


class Alert(Struct, frozen=True, tag_field="type", tag="alert"):
    """One alert. ``symbol`` and ``event_time`` are None for ``feed`` alerts.

    Encoded as it is, it is SPEC's JSON line: ``{"type":"alert","kind":…}``.
    """

    kind: str
    symbol: str | None
    event_time: int | None
    message: str


def parse_kinds(names: Iterable[str]) -> frozenset[str]:
    """``--alert`` values (``all`` included) to the set of kinds they select."""
    kinds: set[str] = set()
    for name in names:
        name = name.lower()
        if name == ALL:
            kinds.update(KINDS)
        elif name in KINDS:
            kinds.add(name)
        else:
            raise ValueError(f"unknown alert kind {name!r}; one of {', '.join((*KINDS, ALL))}")
    return frozenset(kinds)


# -- contracts ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionView:
    """Where a position stands on a ladder (SPEC's ``position`` object).

    ``bracket`` and what follows are None when the notional is at or above
    the last cap; numbers are exact text.
    """

    notional: str
    bracket: int | None
    max_leverage: str | None
    maint_margin_ratio: str | None
    maintenance_margin: str | None


def _dec(text: object) -> Decimal | None:
    if not isinstance(text, str | int):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _differs(old: str | None, new: str | None) -> bool:
    if old == new:
        return False
    a, b = _dec(old), _dec(new)
    return a is None or b is None or a != b


def _time_text(ms: object) -> str:
    if not isinstance(ms, int):
        return printable(ms)
    try:
        return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def _join(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_ITEMS])
    more = len(items) - _MAX_ITEMS
    return f"{shown} and {more} more" if more > 0 else shown


def _arrow(old: object, new: object) -> str:
    return f"{printable(old, 60)} → {printable(new, 60)}"


def _bracket_item(change: Change) -> str:
    if change.field == "bracket":
        what = "added" if change.old is None else "removed" if change.new is None else "replaced"
        return f"bracket {change.bracket} {what}"
    word = _FIELD_WORDS.get(change.field, change.field)
    return f"bracket {change.bracket} {word} {_arrow(change.old, change.new)}"


def _is_bracket_change(change: Change) -> bool:
    return change.field == "bracket" or change.field in BRACKET_NUMBER_FIELDS


def _is_cut(change: Change) -> bool:
    if change.field == "bracket":
        return change.new is None and change.old is not None
    if change.field == "max_leverage":
        old, new = _dec(change.old), _dec(change.new)
        return old is not None and new is not None and new < old
    if change.field == "maint_margin_ratio":
        old, new = _dec(change.old), _dec(change.new)
        return old is not None and new is not None and new > old
    return False


def _delisting_item(change: Change) -> str | None:
    if change.field == "status" and change.new in DELISTING_STATUSES:
        return f"status {_arrow(change.old, change.new)}"
    if (
        change.field == "delivery_time"
        and change.old == PERPETUAL_DELIVERY_MS
        and change.new != PERPETUAL_DELIVERY_MS
    ):
        return f"delivery set for {_time_text(change.new)} (was perpetual)"
    return None


def contract_alerts(
    event: ContractInfo,
    changes: Sequence[Change],
    kinds: frozenset[str],
    position: PositionView | None = None,
    position_before: PositionView | None = None,
) -> list[Alert]:
    """The alerts of one contract event, in the order of :data:`KINDS`.

    One alert per kind and event: a ladder rebuilt in one event is one
    ``brackets`` alert, not one per number. ``position``/``position_before``
    are the symbol's position on the new and the previous ladder (None when
    there is no position, or the event did not change the ladder).
    """
    if not changes or not (kinds & CONTRACT_KINDS):
        return []
    symbol, when = event.symbol, event.event_time
    name = printable(symbol, 60)
    alerts: list[Alert] = []

    def add(kind: str, message: str) -> None:
        alerts.append(Alert(kind, symbol, when, message))

    if LISTING in kinds:
        for c in changes:
            if c.field == "listed":
                details = [f"status {printable(c.new, 60)}"]
                if event.contract_type:
                    details.insert(0, printable(event.contract_type, 60))
                if event.onboard_time is not None:
                    details.append(f"onboard {_time_text(event.onboard_time)}")
                add(LISTING, f"{name} listed: {', '.join(details)}")
    if DELISTING in kinds:
        items = [i for i in map(_delisting_item, changes) if i is not None]
        if items:
            add(DELISTING, f"{name} delisting: {_join(items)}")
    if STATUS in kinds:
        for c in changes:
            if c.field == "status":
                add(STATUS, f"{name} status {_arrow(c.old, c.new)}")
    if BRACKETS in kinds:
        items = [_bracket_item(c) for c in changes if _is_bracket_change(c)]
        if items:
            add(BRACKETS, f"{name} brackets changed: {_join(items)}")
    if LEVERAGE_CUT in kinds:
        items = [_bracket_item(c) for c in changes if _is_cut(c)]
        if items:
            add(LEVERAGE_CUT, f"{name} leverage cut: {_join(items)}")
    if POSITION in kinds and position is not None and position_before is not None:
        message = position_message(position_before, position)
        if message is not None:
            add(POSITION, f"{name} {message}")
    return alerts


def position_message(before: PositionView, after: PositionView) -> str | None:
    """What changed for a position between two ladders, or None if nothing did."""
    items = []
    if before.bracket != after.bracket:
        items.append(f"bracket {_opt(before.bracket)} → {_opt(after.bracket)}")
    if _differs(before.max_leverage, after.max_leverage):
        items.append(f"max leverage {_opt(before.max_leverage)} → {_opt(after.max_leverage)}")
    if _differs(before.maintenance_margin, after.maintenance_margin):
        items.append(
            f"maintenance margin {_opt(before.maintenance_margin)} → "
            f"{_opt(after.maintenance_margin)}"
        )
    if not items:
        return None
    return f"position {printable(after.notional, _NUMBER_LIMIT)}: {', '.join(items)}"


# Numbers are cut only when absurd: a notional takes 100 characters
# (``--position``), and a margin computed from it exactly a few dozen more.
_NUMBER_LIMIT: Final = 260


def _opt(value: object) -> str:
    return "none (above the last cap)" if value is None else printable(value, _NUMBER_LIMIT)


# -- asset buffers -----------------------------------------------------------


class BufferWatch:
    """Per asset, the buffers last seen; alerts when one differs.

    Values are compared as numbers (``0.1`` equals ``0.10``) and reported
    with the exchange's digits. A first sighting only remembers.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str, str, str]] = {}

    def update(self, events: Iterable[AssetIndex]) -> list[Alert]:
        return [alert for _, alert in self.scan(events)]

    def scan(self, events: Iterable[AssetIndex]) -> list[tuple[int, Alert]]:
        """The alerts of a frame, each with the index of the event that raised it."""
        found: list[tuple[int, Alert]] = []
        last = self._last
        for index, e in enumerate(events):
            now = (
                e.bid_buffer,
                e.ask_buffer,
                e.auto_exchange_bid_buffer,
                e.auto_exchange_ask_buffer,
            )
            before = last.get(e.symbol)
            last[e.symbol] = now
            # The hot path: the same text as before, the rule every second.
            if before is None or before == now:
                continue
            items = [
                f"{_FIELD_WORDS[name]} {_arrow(old, new)}"
                for name, old, new in zip(BUFFER_FIELDS, before, now, strict=True)
                if _differs(old, new)
            ]
            if items:
                message = f"{printable(e.symbol, 60)} {_join(items)}"
                found.append((index, Alert(BUFFER, e.symbol, e.event_time, message)))
        return found


# -- feed health -------------------------------------------------------------


@dataclass(slots=True)
class _Watched:
    status: StreamStatus
    # A periodic stream that is silent this long is not delivering; None: a
    # stream that may be quiet for hours (contract info) only has to be connected.
    max_silence: float | None
    down_since: float | None = None
    alerted: bool = False


@dataclass
class FeedWatch:
    """Feed alerts: once when a stream has been down ``after`` seconds, once on recovery.

    ``check`` is called with the same monotonic clock the connections write
    into their :class:`StreamStatus`; nothing here reads a clock itself.
    """

    after: float = 30.0
    _streams: list[_Watched] = field(default_factory=list)

    def watch(self, status: StreamStatus, max_silence: float | None = None) -> None:
        self._streams.append(_Watched(status, max_silence))

    @staticmethod
    def healthy(watched: _Watched, now: float) -> bool:
        status = watched.status
        if status.state != "connected":
            return False
        if watched.max_silence is None:
            return True
        silent = status.silent_for(now)
        return silent is not None and silent <= watched.max_silence

    def check(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        for w in self._streams:
            if self.healthy(w, now):
                if w.alerted:
                    assert w.down_since is not None
                    alerts.append(
                        Alert(
                            FEED,
                            None,
                            None,
                            f"{w.status.name} stream delivering again after "
                            f"{_duration(now - w.down_since)}",
                        )
                    )
                w.down_since, w.alerted = None, False
                continue
            if w.down_since is None:
                w.down_since = now
            if not w.alerted and now - w.down_since >= self.after:
                w.alerted = True
                alerts.append(Alert(FEED, None, None, self._down_message(w, now)))
        return alerts

    @staticmethod
    def _down_message(w: _Watched, now: float) -> str:
        status = w.status
        assert w.down_since is not None
        state = "silent" if status.state in ("connected", "stale") else status.state
        reason = f": {printable(status.reason, 120)}" if status.reason else ""
        return (
            f"{status.name} stream not delivering for {_duration(now - w.down_since)} "
            f"({state}{reason})"
        )


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 120:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
