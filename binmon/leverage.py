"""Leverage brackets: exact maths, and every shape they arrive in. No network.

Brackets reach binmon as a REST ``/fapi/v1/leverageBracket`` answer, as the
``bks`` of a recorded ``!contractInfo`` frame, or as the ``brackets`` of a
``binmon contracts --json`` (or ``brackets --json``) line. All become
:class:`binmon.protocol.Bracket`, whose numbers stay the exchange's exact text.

Arithmetic is done in :class:`decimal.Decimal` with traps on: a result that
would need rounding raises instead of being silently approximated.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import IO, Final

import msgspec
from msgspec import Struct

from binmon.protocol import (
    Bracket,
    ContractInfo,
    decode_payload,
    number_text,
    optional_number_text,
)

# Exact products of a 100-digit notional and the exchange's ratios fit with
# room to spare; anything that would not is trapped as Inexact, never rounded.
_EXACT: Final = decimal.Context(
    prec=200,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero],
)

# ``--notional`` is written back verbatim into JSON, so it must already be a
# JSON number; exponents are refused because they make "exact" unbounded.
_PLAIN_DECIMAL: Final = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
MAX_NOTIONAL_CHARS: Final = 100


class BracketError(ValueError):
    """Brackets, or a notional, that the maths cannot be done with."""


class NotionalOutOfRange(BracketError):
    """The notional is at or above the last bracket's cap (or below the first floor)."""

    def __init__(self, notional: str, limit: str, above: bool = True) -> None:
        self.notional = notional
        self.limit = limit
        self.above = above
        where = "at or above the last bracket's cap" if above else "below the first bracket's floor"
        super().__init__(f"notional {notional} is {where} ({limit})")


@dataclass(frozen=True, slots=True)
class SymbolBrackets:
    symbol: str
    brackets: tuple[Bracket, ...]
    # A REST answer's ``notionalCoef`` (exact text), when it carries one. Other
    # than 1, the brackets are the key's own: the default ones scaled by it.
    notional_coef: str | None = None

    @property
    def personal(self) -> bool:
        return self.notional_coef is not None and dec(self.notional_coef) != 1


@dataclass(frozen=True, slots=True)
class Position:
    """Where a notional falls: its bracket and what that bracket implies."""

    notional: str
    bracket: Bracket
    maintenance_margin: Decimal

    @property
    def maintenance_margin_text(self) -> str:
        return decimal_text(self.maintenance_margin)


# --- numbers ---------------------------------------------------------------


def parse_notional(text: str) -> str:
    """Validate ``--notional``: a non-negative plain decimal, returned unchanged."""
    value = text.strip()
    if len(value) > MAX_NOTIONAL_CHARS:
        raise BracketError(
            f"--notional has {len(value)} characters, more than the {MAX_NOTIONAL_CHARS} "
            "binmon takes"
        )
    if not _PLAIN_DECIMAL.fullmatch(value):
        raise BracketError(
            f"--notional must be a non-negative decimal number such as 250000 or 1250.5, "
            f"not {text!r}"
        )
    return value


def dec(text: str) -> Decimal:
    """Exact Decimal of JSON-number text (already validated by ``number_text``)."""
    try:
        return Decimal(text)
    except decimal.InvalidOperation:
        raise BracketError(f"not a number: {text!r}") from None


def decimal_text(value: Decimal) -> str:
    """Plain positional text with no exponent and no trailing zeros (``1000.000`` → ``1000``)."""
    if value == 0:
        return "0"  # also turns -0 into 0
    return format(value.normalize(_EXACT), "f")


def percent_text(ratio: str) -> str:
    """A ratio as a percentage with at least two decimals: ``0.004`` → ``0.40%``."""
    pct = dec(ratio).scaleb(2, _EXACT).normalize(_EXACT)
    exponent = pct.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        pct = pct.quantize(Decimal("0.01"), context=_EXACT)
    return f"{'0.00' if pct == 0 else format(pct, 'f')}%"


# --- bracket maths -----------------------------------------------------------


def ordered(brackets: Iterable[Bracket]) -> tuple[Bracket, ...]:
    return tuple(sorted(brackets, key=lambda b: b.bracket))


def find_bracket(brackets: Iterable[Bracket], notional: str) -> Bracket:
    """The bracket with ``floor ≤ notional < cap``.

    A notional on a boundary belongs to the bracket that starts there.
    Raises :class:`NotionalOutOfRange` at or above the last cap.
    """
    ladder = ordered(brackets)
    if not ladder:
        raise BracketError("no brackets")
    n = dec(notional)
    for b in ladder:
        if dec(b.notional_floor) <= n < dec(b.notional_cap):
            return b
    if n < dec(ladder[0].notional_floor):
        raise NotionalOutOfRange(notional, ladder[0].notional_floor, above=False)
    if n >= dec(ladder[-1].notional_cap):
        raise NotionalOutOfRange(notional, ladder[-1].notional_cap)
    raise BracketError(f"notional {notional} falls in a gap between brackets")


def maintenance_margin(bracket: Bracket, notional: str) -> Decimal:
    """``notional × maintMarginRatio − cum``, exactly."""
    try:
        product = _EXACT.multiply(dec(notional), dec(bracket.maint_margin_ratio))
        return _EXACT.subtract(product, dec(bracket.cum))
    except decimal.DecimalException:
        raise BracketError(f"maintenance margin of {notional} cannot be computed exactly") from None


def position(brackets: Iterable[Bracket], notional: str) -> Position:
    b = find_bracket(brackets, notional)
    return Position(
        notional=notional, bracket=b, maintenance_margin=maintenance_margin(b, notional)
    )


def check_ladder(brackets: Iterable[Bracket]) -> list[str]:
    """What is wrong with a ladder, if anything.

    Each floor must be the previous cap, and ``cum`` must make maintenance
    margin continuous at every floor: ``cum[n] = cum[n−1] + floor[n]·(mmr[n] − mmr[n−1])``.
    """
    problems: list[str] = []
    ladder = ordered(brackets)
    for prev, cur in pairwise(ladder):
        if dec(cur.notional_floor) != dec(prev.notional_cap):
            problems.append(
                f"bracket {cur.bracket} starts at {cur.notional_floor}, "
                f"bracket {prev.bracket} ends at {prev.notional_cap}"
            )
        try:
            expected = _EXACT.add(
                dec(prev.cum),
                _EXACT.multiply(
                    dec(cur.notional_floor),
                    _EXACT.subtract(dec(cur.maint_margin_ratio), dec(prev.maint_margin_ratio)),
                ),
            )
        except decimal.DecimalException:
            continue
        if expected != dec(cur.cum):
            problems.append(
                f"bracket {cur.bracket} cum is {cur.cum}, continuity needs {decimal_text(expected)}"
            )
    return problems


# --- REST answers ------------------------------------------------------------


class _RestBracket(Struct, gc=False):
    bracket: int
    initialLeverage: msgspec.Raw
    notionalCap: msgspec.Raw
    notionalFloor: msgspec.Raw
    maintMarginRatio: msgspec.Raw
    cum: msgspec.Raw


class _RestSymbol(Struct, gc=False):
    symbol: str
    brackets: list[_RestBracket]
    notionalCoef: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


_REST: Final = msgspec.json.Decoder(list[_RestSymbol] | _RestSymbol)
_REST_BRACKETS: Final = msgspec.json.Decoder(list[_RestBracket])


def _from_rest(b: _RestBracket) -> Bracket:
    return Bracket(
        bracket=b.bracket,
        notional_floor=number_text(b.notionalFloor),
        notional_cap=number_text(b.notionalCap),
        maint_margin_ratio=number_text(b.maintMarginRatio),
        cum=number_text(b.cum),
        min_leverage=None,
        max_leverage=number_text(b.initialLeverage),
    )


def decode_rest(body: bytes) -> list[SymbolBrackets]:
    """A ``/fapi/v1/leverageBracket`` answer (one object, or a list of them).

    Raises ``ValueError`` (``msgspec.DecodeError`` is one) for any other shape.
    """
    decoded = _REST.decode(body)
    items = decoded if isinstance(decoded, list) else [decoded]
    return [
        SymbolBrackets(
            s.symbol,
            ordered(_from_rest(b) for b in s.brackets),
            optional_number_text(s.notionalCoef),
        )
        for s in items
    ]


# --- binmon's own JSON lines ---------------------------------------------------


class _JsonBracket(Struct, gc=False):
    bracket: int
    notional_floor: msgspec.Raw
    notional_cap: msgspec.Raw
    maint_margin_ratio: msgspec.Raw
    cum: msgspec.Raw
    min_leverage: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    max_leverage: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


_JSON_BRACKETS: Final = msgspec.json.Decoder(list[_JsonBracket])


def _from_json(b: _JsonBracket) -> Bracket:
    return Bracket(
        bracket=b.bracket,
        notional_floor=number_text(b.notional_floor),
        notional_cap=number_text(b.notional_cap),
        maint_margin_ratio=number_text(b.maint_margin_ratio),
        cum=number_text(b.cum),
        min_leverage=optional_number_text(b.min_leverage),
        max_leverage=optional_number_text(b.max_leverage),
    )


# --- files: recordings, contracts --json, saved REST answers -------------------

_ABSENT: Final = b""


class _Probe(Struct, gc=False):
    """Just enough of a line to tell which of the known shapes it is."""

    type: str | None = None
    stream: str | None = None
    e: str | None = None
    symbol: str | None = None
    # Raw cannot be Optional in msgspec; an empty Raw means "key absent".
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(_ABSENT))
    brackets: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(_ABSENT))


_PROBE: Final = msgspec.json.Decoder(_Probe)


@dataclass(slots=True)
class FileBrackets:
    """What a file said: the last brackets per symbol, and what was skipped."""

    found: dict[str, tuple[Bracket, ...]]
    lines: int = 0
    malformed: int = 0
    problem: str | None = None


def _from_events(events: Iterable[object]) -> Iterator[SymbolBrackets]:
    for event in events:
        # An empty ``bks`` is routine and says nothing about brackets.
        if isinstance(event, ContractInfo) and event.brackets:
            yield SymbolBrackets(event.symbol, ordered(event.brackets))


def brackets_in_line(line: bytes) -> list[SymbolBrackets]:
    """Brackets carried by one line of any supported shape; ``[]`` if none.

    Raises ``ValueError`` for a line that is not JSON or has a bad shape.
    """
    probe = _PROBE.decode(line)
    data = bytes(probe.data)
    if data not in (_ABSENT, b"null") and probe.stream is not None:
        # A recording line, or a combined-stream message.
        frame = decode_payload(probe.stream, data)
        if frame.malformed and not frame.events:
            raise ValueError(frame.problem or "malformed frame")
        return list(_from_events(frame.events))
    if probe.e == "contractInfo":
        # A bare payload, as the raw /market/ws path sends it.
        frame = decode_payload(None, line)
        if frame.malformed and not frame.events:
            raise ValueError(frame.problem or "malformed frame")
        return list(_from_events(frame.events))
    raw = bytes(probe.brackets)
    if probe.symbol is None or raw in (_ABSENT, b"null", b"[]"):
        return []
    if probe.type in ("contract_info", "brackets"):
        ladder = ordered(_from_json(b) for b in _JSON_BRACKETS.decode(raw))
    elif probe.type is None:
        ladder = ordered(_from_rest(b) for b in _REST_BRACKETS.decode(raw))
    else:
        return []
    return [SymbolBrackets(probe.symbol, ladder)] if ladder else []


def read_brackets_file(
    path: str,
    *,
    stdin: IO[bytes] | None = None,
    on_malformed: Callable[[int, str], None] | None = None,
) -> FileBrackets:
    """The latest brackets per symbol in a file, later lines winning.

    Understands ``binmon record`` recordings (plain or gzip),
    ``binmon contracts --json`` and ``brackets --json`` output, bare
    ``!contractInfo`` payloads one per line, and a saved REST answer.
    Raises ``OSError`` when the file cannot be read.
    """
    result = FileBrackets(found={})
    from binmon.recording import open_input

    with open_input(path, stdin) as f:
        first = f.read(1)
        while first.isspace():
            first = f.read(1)
        if first == b"[":
            # A saved REST answer is one JSON array, often spread over lines.
            body = first + f.read()
            try:
                for item in decode_rest(body):
                    result.found[item.symbol] = item.brackets
            except ValueError as exc:
                result.malformed, result.problem = 1, str(exc)
            return result
        for number, line in enumerate(_lines(first, f), start=1):
            result.lines = number
            # Most of a recording is asset index frames: skip them unparsed.
            if b"bks" not in line and b"brackets" not in line:
                continue
            try:
                items = brackets_in_line(line)
            except (ValueError, UnicodeDecodeError) as exc:
                result.malformed += 1
                result.problem = str(exc)
                if on_malformed is not None:
                    on_malformed(number, str(exc))
                continue
            for item in items:
                result.found[item.symbol] = item.brackets
    return result


def _lines(first: bytes, f: IO[bytes]) -> Iterator[bytes]:
    pending = first
    for line in f:
        if pending:
            line, pending = pending + line, b""
        stripped = line.strip()
        if stripped:
            yield stripped
    if pending.strip():
        yield pending.strip()
