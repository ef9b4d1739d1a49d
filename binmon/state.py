"""Contract state: apply a ``contractInfo`` event, get back what changed.

Pure: no I/O. Seeded from a REST ``exchangeInfo`` snapshot (possibly late),
then updated by each event. Numbers are compared by value (``0.03`` equals
``0.030``) but reported with the exchange's exact text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from msgspec import Struct
from msgspec.structs import replace as replace_struct

from binmon.protocol import BRACKET_NUMBER_FIELDS, Bracket, ContractInfo


class Change(Struct, frozen=True, omit_defaults=True):
    """One entry of an event's ``changes`` list.

    ``old``/``new`` hold a string, an int, exact number text (bracket
    fields), a :class:`Bracket` (a bracket appearing or disappearing) or None.
    """

    field: str
    old: Any
    new: Any
    bracket: int | None = None


@dataclass(slots=True)
class Contract:
    """What is known about one symbol."""

    symbol: str
    pair: str | None = None
    contract_type: str | None = None
    status: str | None = None
    delivery_time: int | None = None
    onboard_time: int | None = None
    market: str | None = None
    brackets: dict[int, Bracket] | None = None
    last_event_time: int | None = None
    last_change: tuple[Change, ...] = ()
    last_change_time: int | None = None
    # The brackets came from the signed REST snapshot, which has no min leverage.
    brackets_from_rest: bool = False


_SCALAR_FIELDS = ("status", "pair", "contract_type", "delivery_time", "onboard_time")


def _same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


def _fill_min_leverage(rest: dict[int, Bracket], new: list[Bracket]) -> dict[int, Bracket]:
    """A REST ladder with the min leverage it cannot know taken from the event:
    what REST never said is not a change."""
    given = {b.bracket: b.min_leverage for b in new}
    return {
        n: replace_struct(b, min_leverage=given.get(n)) if b.min_leverage is None else b
        for n, b in rest.items()
    }


def bracket_changes(old: dict[int, Bracket], new: list[Bracket]) -> list[Change]:
    changes: list[Change] = []
    incoming = {b.bracket: b for b in new}
    for number in sorted(old.keys() | incoming.keys()):
        before, after = old.get(number), incoming.get(number)
        if before is None or after is None:
            changes.append(Change("bracket", before, after, number))
            continue
        for name in BRACKET_NUMBER_FIELDS:
            a, b = getattr(before, name), getattr(after, name)
            if not _same_number(a, b):
                changes.append(Change(name, a, b, number))
    return changes


class ContractBook:
    """Every known contract, keyed by symbol."""

    def __init__(self) -> None:
        self.contracts: dict[str, Contract] = {}
        # Markets a snapshot covered: only there does an unknown symbol mean
        # a listing (the USD-M snapshot says nothing about COIN-M symbols).
        self.seeded_markets: set[str] = set()
        # Ladders from a REST bracket snapshot for symbols no snapshot or
        # event has named yet: they wait here for their contract.
        self._ladders: dict[str, dict[int, Bracket]] = {}

    @property
    def seeded(self) -> bool:
        return bool(self.seeded_markets)

    def seed(self, snapshot: Iterable[Contract], markets: Iterable[str] = ("UM",)) -> None:
        """Merge a REST snapshot; state already learnt from events is newer and wins."""
        covered = set(markets)
        for contract in snapshot:
            if contract.symbol not in self.contracts:
                # A copy: apply() updates contracts in place, and the caller's
                # snapshot must stay as it was (to seed another book, or a replay).
                copy = self.contracts[contract.symbol] = replace(contract)
                ladder = self._ladders.pop(contract.symbol, None)
                if copy.brackets is None and ladder is not None:
                    copy.brackets = ladder
                    copy.brackets_from_rest = True
            if contract.market:
                covered.add(contract.market)
        self.seeded_markets |= covered

    def seed_brackets(self, ladders: Mapping[str, Iterable[Bracket]]) -> None:
        """Merge a REST bracket snapshot (default ladders only); brackets from events win.

        The first bracket event of a seeded symbol is then compared with it.
        """
        for symbol, ladder in ladders.items():
            by_number = {b.bracket: b for b in ladder}
            if not by_number:
                continue
            known = self.contracts.get(symbol)
            if known is None:
                self._ladders[symbol] = by_number
            elif known.brackets is None:
                known.brackets = by_number
                known.brackets_from_rest = True

    def apply(self, event: ContractInfo) -> list[Change]:
        known = self.contracts.get(event.symbol)
        if known is None:
            known = self.contracts[event.symbol] = Contract(event.symbol)
            # Events without `st` predate COIN-M on this stream: USD-M.
            listed = (event.market or "UM") in self.seeded_markets
            changes = [Change("listed", None, event.status)] if listed else []
            ladder = self._ladders.pop(event.symbol, None)
            if ladder is not None:
                known.brackets = ladder
                known.brackets_from_rest = True
                changes.extend(self._bracket_diff(known, event))
            self._update(known, event)
        else:
            changes = self._diff(known, event)
            self._update(known, event)
        if changes:
            known.last_change = tuple(changes)
            known.last_change_time = event.event_time
        return changes

    @staticmethod
    def _diff(known: Contract, event: ContractInfo) -> list[Change]:
        changes: list[Change] = []
        for name in _SCALAR_FIELDS:
            new = getattr(event, name)
            old = getattr(known, name)
            # A field the event does not carry says nothing about it.
            if new is not None and old is not None and new != old:
                changes.append(Change(name, old, new))
        changes.extend(ContractBook._bracket_diff(known, event))
        return changes

    @staticmethod
    def _bracket_diff(known: Contract, event: ContractInfo) -> list[Change]:
        # An empty list says nothing; real frames carry "bks":[] routinely.
        if not event.brackets or known.brackets is None:
            return []
        old = known.brackets
        if known.brackets_from_rest:
            old = _fill_min_leverage(old, event.brackets)
        return bracket_changes(old, event.brackets)

    @staticmethod
    def _update(known: Contract, event: ContractInfo) -> None:
        for name in _SCALAR_FIELDS:
            value = getattr(event, name)
            if value is not None:
                setattr(known, name, value)
        if event.market is not None:
            known.market = event.market
        if event.brackets:
            known.brackets = {b.bracket: b for b in event.brackets}
            known.brackets_from_rest = False
        known.last_event_time = event.event_time


def contracts_from_exchange_info(info: dict[str, Any], market: str | None = "UM") -> list[Contract]:
    """Map ``GET /fapi/v1/exchangeInfo`` symbols to :class:`Contract` seeds."""
    seeds = []
    for s in info.get("symbols") or ():
        if not isinstance(s, dict) or not isinstance(s.get("symbol"), str):
            continue
        seeds.append(
            Contract(
                symbol=s["symbol"],
                pair=s.get("pair"),
                contract_type=s.get("contractType"),
                status=s.get("status"),
                delivery_time=s.get("deliveryDate"),
                onboard_time=s.get("onboardDate"),
                # COIN-M contracts are quoted in USD; USD-M ones never are.
                market=market if market is None or s.get("quoteAsset") != "USD" else "CM",
            )
        )
    return seeds
