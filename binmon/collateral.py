"""Holdings valued as Multi-Assets Mode collateral, exactly. No I/O.

Binance's rule: an asset's USD value is its quantity at the bid rate when the
quantity is ≥ 0 and at the ask rate when it is negative (a debt is valued at
the dearer rate); the haircut is what that costs against the index price.
Every product and sum is exact: :data:`EXACT` traps anything that would
round, and an asset whose numbers cannot be multiplied out exactly is left
unvalued instead of approximated.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from binmon.protocol import AssetIndex

# The exchange's rates have about 8 decimals and --hold is capped below: real
# products need a few dozen digits. The margin covers absurd inputs too, which
# are trapped (and reported) instead of rounded.
EXACT: Final = decimal.Context(
    prec=1000,
    Emax=100_000,
    Emin=-100_000,
    traps=[
        decimal.Inexact,
        decimal.Rounded,
        decimal.InvalidOperation,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
        decimal.DivisionByZero,
    ],
)

MAX_QUANTITY_CHARS: Final = 100
# Signed plain decimals: no exponent, no thousands separators, no spaces inside.
_QUANTITY: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ASSET: Final = re.compile(r"[A-Za-z0-9]{1,20}")
# How long (in event time) an asset may stay without its index entry before it
# is named as unvalued: single-asset streams deliver one symbol per frame.
UNVALUED_GRACE_MS: Final = 3000


class HoldingError(ValueError):
    """A ``--hold`` that is not ``ASSET=QTY``, or a repeated asset."""


def plain(value: Decimal) -> str:
    """Exact positional text of a Decimal: no exponent, no ``-0``."""
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


def trimmed(value: Decimal) -> str:
    """Like :func:`plain`, without trailing zeros (``1000.000`` → ``1000``): for display."""
    return plain(value.normalize(EXACT))


@dataclass(frozen=True, slots=True)
class Holding:
    """One margin asset and its margin balance (wallet + unrealised PnL)."""

    asset: str
    quantity: Decimal
    # The index symbol that values it, worked out once (it is looked up every frame).
    symbol: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", index_symbol(self.asset))


def index_symbol(asset: str) -> str:
    """The asset index symbol that values an asset: ``BTC`` → ``BTCUSD``."""
    return f"{asset}USD"


def parse_quantity(text: str) -> Decimal:
    """A signed plain decimal, exactly; :class:`HoldingError` for anything else."""
    value = text.strip()
    if len(value) > MAX_QUANTITY_CHARS or not _QUANTITY.fullmatch(value):
        raise HoldingError(
            f"quantity must be a plain decimal number such as 0.5, -1200 or 1250.75 "
            f"(no exponent, no thousands separators), not {text!r}"
        )
    return Decimal(value)


def parse_hold(text: str) -> Holding:
    """``BTC=0.5`` → ``Holding("BTC", Decimal("0.5"))``; assets are upper-cased."""
    asset, sep, quantity = text.partition("=")
    asset = asset.strip()
    if not sep or not _ASSET.fullmatch(asset):
        raise HoldingError(f"expected ASSET=QTY such as BTC=0.5 or USDT=-1200, not {text!r}")
    return Holding(asset.upper(), parse_quantity(quantity))


def parse_holds(texts: Iterable[str]) -> tuple[Holding, ...]:
    """Every ``--hold``, in the order given; an asset given twice is an error."""
    holdings: list[Holding] = []
    seen: set[str] = set()
    for text in texts:
        holding = parse_hold(text)
        if holding.asset in seen:
            raise HoldingError(f"{holding.asset} is given more than once")
        seen.add(holding.asset)
        holdings.append(holding)
    return tuple(holdings)


class Quote(msgspec.Struct, frozen=True, gc=False):
    """What valuation needs of one asset index entry, as the exchange's exact text."""

    symbol: str
    event_time: int
    index_price: str
    bid_rate: str
    ask_rate: str

    @classmethod
    def of(cls, e: AssetIndex) -> Quote:
        return cls(e.symbol, e.event_time, e.index_price, e.bid_rate, e.ask_rate)


class AssetValue(msgspec.Struct, frozen=True, gc=False):
    """One line of a collateral report; the four numbers are None when unvalued."""

    asset: str
    symbol: str
    quantity: Decimal
    index_price: str | None = None
    rate: str | None = None
    value: Decimal | None = None
    haircut: Decimal | None = None

    @property
    def valued(self) -> bool:
        return self.value is not None


class CollateralReport(msgspec.Struct, frozen=True, gc=False):
    event_time: int
    assets: tuple[AssetValue, ...]
    total_value: Decimal
    total_haircut: Decimal
    # The exchange's own totalMarginBalance at the last account read, to set beside ours.
    exchange_total: str | None = None

    def share(self, item: AssetValue) -> Decimal | None:
        """The asset's part of the total value, for display only (rounded to 0.01 %)."""
        if item.value is None or self.total_value.is_zero():
            return None
        # Division rarely terminates: a display context, never used for a reported number.
        return (item.value * 100 / self.total_value).quantize(
            Decimal("0.01"), context=decimal.Context(prec=1000)
        )


class Unvaluable(ArithmeticError):
    """The exact result would need more digits than :data:`EXACT` allows."""


def value(holding: Holding, quote: Quote) -> AssetValue:
    """``QTY × bid`` (QTY ≥ 0) or ``QTY × ask`` (QTY < 0), and the haircut, exactly.

    Raises :class:`Unvaluable` for numbers that cannot be multiplied out exactly.
    """
    quantity = holding.quantity
    rate = quote.bid_rate if quantity >= 0 else quote.ask_rate
    try:
        worth = EXACT.multiply(quantity, Decimal(rate))
        haircut = EXACT.subtract(EXACT.multiply(quantity, Decimal(quote.index_price)), worth)
    except decimal.DecimalException:
        raise Unvaluable(f"{holding.asset} cannot be valued exactly") from None
    return AssetValue(
        holding.asset, holding.symbol, quantity, quote.index_price, rate, worth, haircut
    )


_ZERO: Final = Decimal(0)


def report(
    holdings: Sequence[Holding],
    quotes: dict[str, Quote],
    event_time: int,
    exchange_total: str | None = None,
    *,
    memo: dict[str, tuple[str, str, AssetValue]] | None = None,
) -> tuple[CollateralReport, list[str]]:
    """The collateral of ``holdings`` at the latest ``quotes`` (by index symbol).

    Returns the report and the assets that could not be valued exactly
    (unvalued in the report, like an asset without an index entry).
    ``memo`` keeps each asset's last valuation, reused while its index price
    and rate stay the same (stablecoins do, for minutes at a time).
    """
    rows: list[AssetValue] = []
    problems: list[str] = []
    memo = {} if memo is None else memo
    add = EXACT.add
    total_value = total_haircut = _ZERO
    summed = True
    # Once per asset frame: one pass, totals summed on the way.
    for h in holdings:
        quote = quotes.get(h.symbol)
        if quote is None:
            rows.append(AssetValue(h.asset, h.symbol, h.quantity))
            continue
        rate = quote.bid_rate if h.quantity >= 0 else quote.ask_rate
        kept = memo.get(h.asset)
        if kept is not None and kept[0] == quote.index_price and kept[1] == rate:
            row = kept[2]
        else:
            try:
                row = value(h, quote)
            except Unvaluable as exc:
                problems.append(str(exc))
                rows.append(AssetValue(h.asset, h.symbol, h.quantity))
                continue
            memo[h.asset] = (quote.index_price, rate, row)
        rows.append(row)
        worth, cost = row.value, row.haircut
        if summed and worth is not None and cost is not None:
            try:
                total_value = add(total_value, worth)
                total_haircut = add(total_haircut, cost)
            except decimal.DecimalException:
                summed = False
    if not summed:
        # Values exact one by one but not summable in 1000 digits: nothing sensible to add up.
        problems.append("the total cannot be summed exactly")
        rows = [AssetValue(r.asset, r.symbol, r.quantity) for r in rows]
        total_value = total_haircut = _ZERO
    result = CollateralReport(event_time, tuple(rows), total_value, total_haircut, exchange_total)
    return result, problems


# After an ``asset_index`` line's symbol: the numbers valuation needs. The
# lines' shape is fixed (binmon.jsonl, and the C accelerator writes the same).
_ENTRY: Final = re.compile(
    rb'"event_time":([0-9]+),"index_price":([^,]+),"bid_buffer":[^,]+,'
    rb'"ask_buffer":[^,]+,"bid_rate":([^,]+),"ask_rate":([^,}]+)'
)


def quotes_in_lines(data: bytes, needles: Iterable[tuple[str, bytes]]) -> list[Quote]:
    """The held entries of finished ``asset_index`` JSON lines (the C fast path's output).

    ``needles`` are ``(symbol, needle(symbol))`` pairs. Only the held symbols
    are looked for, so a frame of a hundred entries costs a few ``find`` calls.
    """
    found: list[Quote] = []
    match = _ENTRY.match
    for symbol, marker in needles:
        # The newest occurrence wins, as it would event by event.
        start = data.rfind(marker)
        if start < 0:
            continue
        m = match(data, start + len(marker))
        if m is None:
            continue
        time, index, bid, ask = m.groups()
        found.append(Quote(symbol, int(time), index.decode(), bid.decode(), ask.decode()))
    return found


def needle(symbol: str) -> bytes:
    """What precedes an entry's numbers in an ``asset_index`` line."""
    return b'"symbol":"%s",' % symbol.encode()


class Collateral:
    """Holdings and the latest index entry of each held asset, frame by frame.

    :meth:`events` (or :meth:`lines`, for the C accelerator's finished lines)
    takes the entries of one frame and gives the newest event time among the
    held ones (None: the frame held nothing); :meth:`report` then values every
    holding. Holdings can be replaced at any time (an account refresh).
    """

    def __init__(self, holdings: Sequence[Holding] = (), *, grace_ms: int = UNVALUED_GRACE_MS):
        self.holdings: tuple[Holding, ...] = ()
        self.symbols: frozenset[str] = frozenset()
        self.latest: dict[str, Quote] = {}
        self.exchange_total: str | None = None
        self._memo: dict[str, tuple[str, str, AssetValue]] = {}
        self._grace_ms = grace_ms
        self._first_time: int | None = None
        self._named: set[str] = set()
        self.replace(holdings)

    def replace(self, holdings: Sequence[Holding], exchange_total: str | None = None) -> None:
        self.exchange_total = exchange_total
        self.holdings = tuple(holdings)
        self._memo = {}  # quantities may have changed
        self.symbols = frozenset(h.symbol for h in self.holdings)
        self._needles = [(s, needle(s)) for s in sorted(self.symbols)]

    def lines(self, data: bytes) -> int | None:
        """Remember the held entries of finished JSON lines.

        Returns the newest event time among them, None when none was held.
        """
        newest = None
        for quote in quotes_in_lines(data, self._needles):
            if self.quote(quote) and (newest is None or quote.event_time > newest):
                newest = quote.event_time
        return newest

    def quote(self, quote: Quote) -> bool:
        """Remember one entry; True when it values a held asset."""
        if quote.symbol not in self.symbols:
            return False
        known = self.latest.get(quote.symbol)
        if known is None or quote.event_time >= known.event_time:
            self.latest[quote.symbol] = quote
        return True

    def events(self, events: Iterable[AssetIndex]) -> int | None:
        """Remember a frame's entries; the newest held event time, None when none was held."""
        newest = None
        symbols = self.symbols
        for e in events:
            held = e.symbol in symbols and self.quote(Quote.of(e))
            if held and (newest is None or e.event_time > newest):
                newest = e.event_time
        return newest

    def report(self, event_time: int) -> tuple[CollateralReport, list[str]]:
        """The report at ``event_time`` and what to warn about, each named only once.

        An asset still without an index entry ``grace_ms`` after the first
        report is named (its ``<ASSET>USD`` probably does not exist).
        """
        if self._first_time is None:
            self._first_time = event_time
        result, problems = report(
            self.holdings, self.latest, event_time, self.exchange_total, memo=self._memo
        )
        warnings = [p for p in problems if p not in self._named] if problems else []
        latest = self.latest
        if event_time - self._first_time >= self._grace_ms and not self.symbols <= latest.keys():
            for row in result.assets:
                if row.symbol not in latest and row.symbol not in self._named:
                    warnings.append(
                        f"{row.asset} is not valued: no asset index entry {row.symbol} has been "
                        f"seen"
                    )
                    self._named.add(row.symbol)
        if problems:
            self._named.update(problems)
        return result, warnings
