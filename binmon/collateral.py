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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from binmon.feed import Encoded, FastPath, Valued
from binmon.protocol import AssetIndex

# One holding as the C valuation takes it (see :func:`fast_holdings`).
FastHoldings = tuple[tuple[bytes, bytes, int, int, bool], ...]
_Valuing = Callable[[bytes | str, FastHoldings, int], Valued | None]
_valued_lines: _Valuing | None
_valued_recorded_lines: _Valuing | None
try:
    from binmon._speedups import asset_index_lines as _plain
    from binmon._speedups import recorded_asset_index_lines as _plain_recorded
    from binmon._speedups import valued_asset_index_lines as _valued_lines
    from binmon._speedups import valued_recorded_asset_index_lines as _valued_recorded_lines
except ImportError:  # built without a C compiler: every report is made here
    _valued_lines = _valued_recorded_lines = None

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
    # Worked out once, used every frame: the index symbol that values the
    # asset, the quantity as a line writes it, and the side of the book.
    symbol: str = field(init=False, compare=False)
    quantity_text: str = field(init=False, compare=False, repr=False)
    # Below zero: valued at the ask rate.
    short: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", index_symbol(self.asset))
        object.__setattr__(self, "quantity_text", plain(self.quantity))
        object.__setattr__(self, "short", self.quantity < 0)


def index_symbol(asset: str) -> str:
    """The asset index symbol that values an asset: ``BTC`` → ``BTCUSD``."""
    return f"{asset}USD"


def parse_quantity(text: str) -> Decimal:
    """A signed plain decimal, exactly; :class:`HoldingError` for anything else."""
    value = text.strip()
    if len(value) > MAX_QUANTITY_CHARS:
        raise HoldingError(
            f"quantity has {len(value)} characters, more than the {MAX_QUANTITY_CHARS} binmon takes"
        )
    if not _QUANTITY.fullmatch(value):
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
    """One line of a collateral report; the four numbers are None when unvalued.

    The exact results are kept as their plain text (what a JSON line carries,
    made every frame); :attr:`value` and :attr:`haircut` give them as Decimal.
    """

    holding: Holding
    index_price: str | None = None
    rate: str | None = None
    value_text: str | None = None
    haircut_text: str | None = None

    @property
    def asset(self) -> str:
        return self.holding.asset

    @property
    def symbol(self) -> str:
        return self.holding.symbol

    @property
    def quantity(self) -> Decimal:
        return self.holding.quantity

    @property
    def value(self) -> Decimal | None:
        return None if self.value_text is None else Decimal(self.value_text)

    @property
    def haircut(self) -> Decimal | None:
        return None if self.haircut_text is None else Decimal(self.haircut_text)

    @property
    def valued(self) -> bool:
        return self.value_text is not None


class CollateralReport(msgspec.Struct, frozen=True, gc=False):
    event_time: int
    assets: tuple[AssetValue, ...]
    # Exact, as plain text (see AssetValue).
    total_value_text: str
    total_haircut_text: str
    # The exchange's own totalMarginBalance at the last account read, to set beside ours.
    exchange_total: str | None = None

    @property
    def total_value(self) -> Decimal:
        return Decimal(self.total_value_text)

    @property
    def total_haircut(self) -> Decimal:
        return Decimal(self.total_haircut_text)

    def share(self, item: AssetValue) -> Decimal | None:
        """The asset's part of the total value, for display only (rounded to 0.01 %)."""
        value, total = item.value, self.total_value
        if value is None or total.is_zero():
            return None
        # Division rarely terminates: a display context, never used for a reported number.
        return (value * 100 / total).quantize(Decimal("0.01"), context=decimal.Context(prec=1000))


class Unvaluable(ArithmeticError):
    """The exact result would need more digits than :data:`EXACT` allows."""


def value(holding: Holding, quote: Quote) -> AssetValue:
    """``QTY × bid`` (QTY ≥ 0) or ``QTY × ask`` (QTY < 0), and the haircut, exactly.

    Raises :class:`Unvaluable` for numbers that cannot be multiplied out exactly.
    """
    return _valued(holding, quote)[0]


def _valued(holding: Holding, quote: Quote) -> tuple[AssetValue, Decimal, Decimal]:
    """The row, and its value and haircut as Decimal (for the totals)."""
    quantity = holding.quantity
    index = quote.index_price
    rate = quote.ask_rate if holding.short else quote.bid_rate
    # libmpdec under EXACT: measured faster than scaled Python integers
    # (parsing and printing those in Python costs more than the products).
    try:
        worth = _MULTIPLY(quantity, Decimal(rate))
        haircut = _SUBTRACT(_MULTIPLY(quantity, Decimal(index)), worth)
    except decimal.DecimalException:
        raise Unvaluable(f"{holding.asset} cannot be valued exactly") from None
    row = AssetValue(holding, index, rate, plain(worth), plain(haircut))
    return row, worth, haircut


_MULTIPLY: Final = EXACT.multiply
_SUBTRACT: Final = EXACT.subtract
_ZERO: Final = Decimal(0)


def report(
    holdings: Sequence[Holding],
    quotes: dict[str, Quote],
    event_time: int,
    exchange_total: str | None = None,
) -> tuple[CollateralReport, list[str]]:
    """The collateral of ``holdings`` at the latest ``quotes`` (by index symbol).

    Returns the report and the assets that could not be valued exactly
    (unvalued in the report, like an asset without an index entry).
    """
    rows: list[AssetValue] = []
    problems: list[str] = []
    add = EXACT.add
    total_value = total_haircut = _ZERO
    summed = True
    # Once per asset frame: one pass, totals summed on the way.
    for h in holdings:
        quote = quotes.get(h.symbol)
        if quote is None:
            rows.append(AssetValue(h))
            continue
        try:
            row, worth, cost = _valued(h, quote)
        except Unvaluable as exc:
            problems.append(str(exc))
            rows.append(AssetValue(h))
            continue
        rows.append(row)
        if summed:
            try:
                total_value = add(total_value, worth)
                total_haircut = add(total_haircut, cost)
            except decimal.DecimalException:
                summed = False
    if not summed:
        # Values exact one by one but not summable in 1000 digits: nothing sensible to add up.
        problems.append("the total cannot be summed exactly")
        rows = [AssetValue(r.holding) for r in rows]
        total_value = total_haircut = _ZERO
    result = CollateralReport(
        event_time, tuple(rows), plain(total_value), plain(total_haircut), exchange_total
    )
    return result, problems


# After an ``asset_index`` line's symbol: the numbers valuation needs. The
# lines' shape is fixed (binmon.jsonl, and the C accelerator writes the same).
_ENTRY: Final = re.compile(
    rb'"event_time":([0-9]+),"index_price":([^,]+),"bid_buffer":[^,]+,'
    rb'"ask_buffer":[^,]+,"bid_rate":([^,]+),"ask_rate":([^,}]+)'
)


def quotes_in_lines(
    data: bytes, needles: Iterable[tuple[str, bytes]], end: int | None = None
) -> list[Quote]:
    """The held entries of finished ``asset_index`` JSON lines (the C fast path's output).

    ``needles`` are ``(symbol, needle(symbol))`` pairs. Only the held symbols
    are looked for, so a frame of a hundred entries costs a few ``find`` calls.
    Entries are looked for before ``end`` only (a collateral line after them
    names the held symbols too).
    """
    found: list[Quote] = []
    match = _ENTRY.match
    stop = len(data) if end is None else end
    for symbol, marker in needles:
        # The newest occurrence wins, as it would event by event.
        start = data.rfind(marker, 0, stop)
        if start < 0:
            continue
        m = match(data, start + len(marker), stop)
        if m is None:
            continue
        time, index, bid, ask = m.groups()
        found.append(Quote(symbol, int(time), index.decode(), bid.decode(), ask.decode()))
    return found


# How the collateral line a valued encoder appends to a frame's lines begins.
COLLATERAL_LINE_START: Final = b'{"type":"collateral",'


def needle(symbol: str) -> bytes:
    """What precedes an entry's numbers in an ``asset_index`` line."""
    return b'"symbol":"%s",' % symbol.encode()


# What the C valuation takes: a quantity that fits its 64-bit argument, and
# at most 30 decimal places (its limit for every operand).
_MAX_COEFFICIENT: Final = 10**18
_MAX_SCALE: Final = 30
_MAX_EVENT_TIME: Final = 10**18


def fast_holdings(holdings: Sequence[Holding]) -> FastHoldings | None:
    """The holdings as :func:`binmon._speedups.valued_asset_index_lines` takes them.

    None when it cannot take them: no holdings, an asset name the line would
    have to escape, a quantity with a positive exponent or too many digits.
    Each holding gives its needle, the start of its row in the line (up to
    the index price), its quantity as a scaled integer, and its side.
    """
    if not holdings or len(holdings) > 32:
        return None
    prepared = []
    for h in holdings:
        if not (h.asset.isascii() and h.asset.replace("_", "").isalnum()):
            return None
        sign, digits, exponent = h.quantity.as_tuple()
        if not isinstance(exponent, int) or not -_MAX_SCALE <= exponent <= 0:
            return None
        coefficient = int("".join(map(str, digits)) or "0")
        if coefficient >= _MAX_COEFFICIENT:
            return None
        prefix = (
            f'{{"asset":"{h.asset}","symbol":"{h.symbol}",'
            f'"quantity":{h.quantity_text},"index_price":'
        )
        scaled = -coefficient if sign else coefficient
        prepared.append((needle(h.symbol), prefix.encode(), scaled, -exponent, h.short))
    return tuple(prepared)


class Collateral:
    """Holdings and the latest index entry of each held asset, frame by frame.

    :meth:`events` (or :meth:`lines`, for the C accelerator's finished lines)
    takes the entries of one frame and gives the newest event time among the
    held ones (None: the frame held nothing); :meth:`report` then values every
    holding. :meth:`encoders` do all of it in C, in the call that encodes the
    frame, when they can: the frame's lines then end with the finished
    collateral line, and :meth:`took` settles the state once the frame is
    delivered. Holdings can be replaced at any time (an account refresh).
    """

    def __init__(self, holdings: Sequence[Holding] = (), *, grace_ms: int = UNVALUED_GRACE_MS):
        self.holdings: tuple[Holding, ...] = ()
        self.symbols: frozenset[str] = frozenset()
        self._latest: dict[str, Quote] = {}
        self.exchange_total: str | None = None
        self._grace_ms = grace_ms
        self._first_time: int | None = None
        self._named: set[str] = set()
        # The last frame valued in C and delivered, not yet taken into
        # _latest: only read when someone asks (it replaces every held entry,
        # being valued only when it has them all and none is older than what
        # is known).
        self._pending: bytes | None = None
        # Set once every holding has been valued by :meth:`report`: the newest
        # held event time known, below which the C code leaves a frame to
        # Python (which would keep the newer entry it has).
        self._floor: int | None = None
        # The last frame valued in C, until the feed delivers it (or decodes
        # it again, when it wants more than the fast path gives).
        self._offer: Valued | None = None
        self.replace(holdings)

    @property
    def latest(self) -> dict[str, Quote]:
        """The latest index entry of each held asset (by index symbol)."""
        self._settle()
        return self._latest

    def _settle(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._take_lines(pending, pending.rfind(COLLATERAL_LINE_START))

    def replace(self, holdings: Sequence[Holding], exchange_total: str | None = None) -> None:
        self._settle()
        self._floor = None
        self._offer = None
        self.exchange_total = exchange_total
        self.holdings = tuple(holdings)
        self.symbols = frozenset(h.symbol for h in self.holdings)
        self._needles = [(s, needle(s)) for s in sorted(self.symbols)]
        self._fast = fast_holdings(self.holdings) if _valued_lines is not None else None

    def encoders(self) -> tuple[FastPath, FastPath] | None:
        """Stand-ins for the accelerator's two asset-frame encoders (live
        messages, recording lines) that append the collateral line whenever
        they can value the frame in C; None without the accelerator.

        Only for outputs that take the collateral line so, in a frame's lines
        (see ``Consumer.takes_encoded_collateral``); each frame they value must
        reach :meth:`took` before the next is encoded. Byte for byte the
        Python path's line: ``encode_collateral(report(lines(data))[0])``.
        """
        if _valued_lines is None or _valued_recorded_lines is None:
            return None
        return (
            self._encoder(_plain, _valued_lines),
            self._encoder(_plain_recorded, _valued_recorded_lines),
        )

    def _encoder(
        self, plain: Callable[[bytes | str], Encoded | None], valued: _Valuing
    ) -> FastPath:
        def encode(message: bytes | str) -> Encoded | Valued | None:
            fast, floor = self._fast, self._floor
            # Until every holding has been valued once (by Python), the C code
            # cannot know the entries a frame lacks: plain lines then.
            if fast is None or floor is None:
                return plain(message)
            made = valued(message, fast, floor)
            self._offer = made if made is not None and made[5] is not None else None
            return made

        return encode

    def took(self, data: bytes) -> bool:
        """True when ``data`` are lines an encoder valued, its collateral line
        at their end: the frame is delivered and its entries are now known."""
        offer = self._offer
        if offer is None or offer[0] is not data:
            return False
        self._offer = None
        self._floor = offer[5]
        self._pending = data
        return True

    def lines(self, data: bytes) -> int | None:
        """Remember the held entries of finished JSON lines.

        Returns the newest event time among them, None when none was held.
        """
        self._settle()
        self._floor = self._offer = None
        return self._take_lines(data)

    def _take_lines(self, data: bytes, end: int | None = None) -> int | None:
        newest = None
        latest = self._latest
        # Every needle is a held symbol's: no membership test needed here.
        for quote in quotes_in_lines(data, self._needles, end):
            time = quote.event_time
            known = latest.get(quote.symbol)
            if known is None or time >= known.event_time:
                latest[quote.symbol] = quote
            if newest is None or time > newest:
                newest = time
        return newest

    def quote(self, quote: Quote) -> bool:
        """Remember one entry; True when it values a held asset."""
        if quote.symbol not in self.symbols:
            return False
        self._settle()
        self._floor = self._offer = None
        known = self._latest.get(quote.symbol)
        if known is None or quote.event_time >= known.event_time:
            self._latest[quote.symbol] = quote
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
        self._settle()
        if self._first_time is None:
            self._first_time = event_time
        latest = self._latest
        result, problems = report(self.holdings, latest, event_time, self.exchange_total)
        warnings = [p for p in problems if p not in self._named] if problems else []
        complete = self.symbols <= latest.keys()
        if event_time - self._first_time >= self._grace_ms and not complete:
            for row in result.assets:
                if row.symbol not in latest and row.symbol not in self._named:
                    warnings.append(
                        f"{row.asset} is not valued: no asset index entry {row.symbol} has been "
                        f"seen"
                    )
                    self._named.add(row.symbol)
        if problems:
            self._named.update(problems)
        # Every holding has an entry now: the C code may serve the next frames.
        floor = (
            max(latest[s].event_time for s in self.symbols) if complete and self.symbols else None
        )
        # The C code takes event times of up to 18 digits (a 64-bit integer).
        self._floor = floor if floor is not None and floor < _MAX_EVENT_TIME else None
        return result, warnings
