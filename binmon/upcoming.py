"""Scheduled listings and deliveries: from known contracts to a sorted list of events.

Pure: no I/O, no clock (``now_ms`` is always given). The one-off
``binmon upcoming`` feeds it the ``exchangeInfo`` snapshot; the live view can
feed it the contracts of its book, kept current by contract events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from binmon.filters import Filters
from binmon.jsonl import encode_line
from binmon.protocol import PERPETUAL_FROM_MS
from binmon.state import Contract, contracts_from_exchange_info

EventKind = Literal["listing", "delivery"]

LISTING: Final = "listing"
DELIVERY: Final = "delivery"


@dataclass(frozen=True, slots=True)
class Upcoming:
    """One scheduled event: a symbol going live, or being delivered or delisted."""

    event: EventKind
    symbol: str
    time: int
    status: str | None
    contract_type: str | None
    pair: str | None
    market: str | None

    @property
    def delisting(self) -> bool:
        """A perpetual with a delivery date is being delisted, not delivered."""
        return self.event == DELIVERY and "PERPETUAL" in (self.contract_type or "")

    def sort_key(self) -> tuple[int, str, str]:
        return (self.time, self.symbol, self.event)


def _time(value: object) -> int | None:
    # Only the exchange's integer milliseconds count; anything else in a
    # snapshot (a string, a bool, a float) schedules nothing.
    return value if type(value) is int else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def upcoming(contracts: Iterable[Contract], now_ms: int) -> list[Upcoming]:
    """Events after ``now_ms``, soonest first (ties by symbol, then kind).

    A listing for every onboard time in the future; a delivery for every
    delivery time in the future that is not the perpetuals' far-future
    placeholder (anything from 2100 on: the exchange's 2100-12-25 comes with
    a few seconds' variation, as BTCUSDT shows).
    """
    events: list[Upcoming] = []
    for c in contracts:
        symbol = _text(c.symbol)
        if symbol is None:
            continue
        details = (_text(c.status), _text(c.contract_type), _text(c.pair), _text(c.market))
        onboard = _time(c.onboard_time)
        if onboard is not None and onboard > now_ms:
            events.append(Upcoming(LISTING, symbol, onboard, *details))
        delivery = _time(c.delivery_time)
        if delivery is not None and now_ms < delivery < PERPETUAL_FROM_MS:
            events.append(Upcoming(DELIVERY, symbol, delivery, *details))
    events.sort(key=Upcoming.sort_key)
    return events


def from_exchange_info(info: dict[str, Any], now_ms: int) -> list[Upcoming]:
    """Events of a ``GET /fapi/v1/exchangeInfo`` answer (``market`` as the seeded book has it)."""
    return upcoming(contracts_from_exchange_info(info), now_ms)


def select(events: Iterable[Upcoming], filters: Filters) -> list[Upcoming]:
    """The events ``-s`` and ``--market`` keep, in their order."""
    market = filters.market
    # Contracts without a market predate COIN-M on the stream: USD-M, as for events.
    return [
        e
        for e in events
        if filters.symbol_ok(e.symbol) and (market is None or (e.market or "UM") == market)
    ]


def upcoming_line(event: Upcoming) -> bytes:
    """One ``{"type":"upcoming",...}`` JSON line (SPEC)."""
    return encode_line(
        {
            "type": "upcoming",
            "event": event.event,
            "symbol": event.symbol,
            "time": event.time,
            "status": event.status,
            "contract_type": event.contract_type,
            "pair": event.pair,
            "market": event.market,
        }
    )
