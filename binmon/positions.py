"""Positions against bracket ladders: where a notional falls and what it costs. No I/O.

The maths is :mod:`binmon.leverage`'s (``brackets --notional``); this module
adds what a running stream needs: positions by symbol, personal brackets
(``notionalCoef`` ≠ 1) that take precedence over the stream's, and the
ladder an event replaced, rebuilt from its ``changes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from binmon.leverage import BracketError, find_bracket, maintenance_margin, ordered
from binmon.protocol import BRACKET_NUMBER_FIELDS, Bracket, ContractInfo
from binmon.state import Change, Contract

# As for ``brackets --notional``: far beyond any real position, and the exact
# products with the exchange's ratios still fit (binmon.leverage).
MAX_NOTIONAL_CHARS: Final = 100
_NOTIONAL: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SYMBOL: Final = re.compile(r"[A-Za-z0-9_]{1,40}")


class PositionError(ValueError):
    """A ``--position`` that is not ``SYMBOL=NOTIONAL``, or a repeated symbol."""


@dataclass(frozen=True, slots=True)
class Exposure:
    """A position on a ladder; everything but ``notional`` is None above the last cap."""

    notional: Decimal
    bracket: int | None = None
    max_leverage: str | None = None
    maint_margin_ratio: str | None = None
    maintenance_margin: Decimal | None = None

    def same_terms(self, other: Exposure | None) -> bool:
        """Same bracket, leverage, ratio and margin (numbers compared by value)."""
        if other is None:
            return False
        return (
            self.bracket == other.bracket
            and _num(self.max_leverage) == _num(other.max_leverage)
            and _num(self.maint_margin_ratio) == _num(other.maint_margin_ratio)
            and self.maintenance_margin == other.maintenance_margin
        )


def _num(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def parse_notional(text: str) -> Decimal:
    value = text.strip()
    if len(value) > MAX_NOTIONAL_CHARS:
        raise PositionError(
            f"notional has {len(value)} characters, more than the {MAX_NOTIONAL_CHARS} binmon takes"
        )
    if not _NOTIONAL.fullmatch(value):
        raise PositionError(
            f"notional must be a non-negative plain decimal number such as 250000 or "
            f"1250.5, not {text!r}"
        )
    return Decimal(value)


def parse_position(text: str) -> tuple[str, Decimal]:
    """``btcusdt=250000`` → ``("BTCUSDT", Decimal("250000"))``."""
    symbol, sep, notional = text.partition("=")
    symbol = symbol.strip()
    if not sep or not _SYMBOL.fullmatch(symbol):
        raise PositionError(f"expected SYMBOL=NOTIONAL such as BTCUSDT=250000, not {text!r}")
    return symbol.upper(), parse_notional(notional)


def parse_positions(texts: Iterable[str]) -> dict[str, Decimal]:
    """Every ``--position`` in the order given; a symbol given twice is an error."""
    positions: dict[str, Decimal] = {}
    for text in texts:
        symbol, notional = parse_position(text)
        if symbol in positions:
            raise PositionError(f"{symbol} is given more than once")
        positions[symbol] = notional
    return positions


def exposure(ladder: Sequence[Bracket], notional: Decimal) -> Exposure:
    """Where ``notional`` falls (floor ≤ N < cap) and N × ratio − cum, exactly.

    At or above the last cap (or outside the ladder in any way) only the
    notional is known.
    """
    text = format(notional, "f")
    try:
        b = find_bracket(ladder, text)
        margin = maintenance_margin(b, text)
    except BracketError:
        return Exposure(notional)
    return Exposure(notional, b.bracket, b.max_leverage, b.maint_margin_ratio, margin)


def previous_ladder(ladder: Iterable[Bracket], changes: Iterable[Change]) -> tuple[Bracket, ...]:
    """The ladder an event replaced: its new ladder with the ``changes`` undone."""
    by_number = {b.bracket: b for b in ladder}
    for c in changes:
        if c.bracket is None:
            continue
        if c.field == "bracket":
            if c.old is None:
                by_number.pop(c.bracket, None)
            else:
                by_number[c.bracket] = c.old
        elif c.field in BRACKET_NUMBER_FIELDS and c.bracket in by_number:
            by_number[c.bracket] = _with(by_number[c.bracket], c.field, c.old)
    return ordered(by_number.values())


def _with(b: Bracket, name: str, value: str | None) -> Bracket:
    fields = {f: getattr(b, f) for f in ("bracket", *BRACKET_NUMBER_FIELDS)}
    fields[name] = value
    return Bracket(**fields)


def changes_brackets(changes: Iterable[Change]) -> bool:
    return any(c.bracket is not None for c in changes)


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """What an event means for a symbol's position: now and, if the ladder moved, before."""

    symbol: str
    now: Exposure
    before: Exposure | None = None
    personal: bool = False

    @property
    def moved(self) -> bool:
        return self.before is not None and not self.now.same_terms(self.before)


class Positions:
    """Positions by symbol, and the personal ladders that override the stream's.

    Positions can be replaced at any time (an account refresh); personal
    ladders come from the signed ``leverageBracket`` answer. ``contracts`` is
    the contract book the stream's ladders are read from.
    """

    def __init__(
        self,
        positions: Mapping[str, Decimal] | None = None,
        contracts: Mapping[str, Contract] | None = None,
    ) -> None:
        self.notionals: dict[str, Decimal] = dict(positions or {})
        self.personal: dict[str, tuple[Bracket, ...]] = {}
        self.contracts: Mapping[str, Contract] = contracts if contracts is not None else {}
        # Bumped whenever the positions or personal ladders change (a view's cache key).
        self.version = 0

    def replace(self, positions: Mapping[str, Decimal]) -> None:
        if positions != self.notionals:
            self.notionals = dict(positions)
            self.version += 1

    def ladder(self, symbol: str) -> tuple[Bracket, ...] | None:
        """The stream's (or the snapshot's) ladder of ``symbol``, if known."""
        contract = self.contracts.get(symbol)
        if contract is None or not contract.brackets:
            return None
        return ordered(contract.brackets.values())

    def of(self, symbol: str) -> Exposure | None:
        """Where the symbol's position stands now, on the ladder its maths use."""
        if symbol not in self.notionals:
            return None
        return self.at(symbol, self.ladder(symbol))

    def for_event(self, event: ContractInfo, changes: Sequence[Change]) -> PositionUpdate | None:
        """The position keys of the event's ``contract_info`` line (the book already applied it)."""
        if event.symbol not in self.notionals:
            return None
        return self.update(event.symbol, self.ladder(event.symbol), changes)

    def set_personal(self, symbol: str, ladder: Sequence[Bracket]) -> None:
        self.personal[symbol] = ordered(ladder)
        self.version += 1

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.notionals

    def __bool__(self) -> bool:
        return bool(self.notionals)

    def at(self, symbol: str, ladder: Sequence[Bracket] | None) -> Exposure | None:
        """The position of ``symbol`` on its ladder (personal first); None without either."""
        notional = self.notionals.get(symbol)
        if notional is None:
            return None
        ladder = self.personal.get(symbol) or ladder
        if not ladder:
            return None
        return exposure(ladder, notional)

    def update(
        self, symbol: str, ladder: Sequence[Bracket] | None, changes: Sequence[Change]
    ) -> PositionUpdate | None:
        """The position after an event whose ``changes`` left ``ladder`` as the symbol's ladder.

        ``before`` is given only when the event changed the ladder the maths
        uses: never for personal brackets, which the stream does not carry.
        """
        now = self.at(symbol, ladder)
        if now is None:
            return None
        if symbol in self.personal:
            return PositionUpdate(symbol, now, personal=True)
        if ladder and changes_brackets(changes):
            before = exposure(previous_ladder(ladder, changes), now.notional)
            return PositionUpdate(symbol, now, before)
        return PositionUpdate(symbol, now)
