"""The wire structs of ``binmon serve``'s streams, their encoder, and exact decimals.

Field order is the exchange's. Published decimals are exact: no float ever
reaches the wire.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

import msgspec

_Q8: Final = Decimal("0.00000001")


class AssetIndexUpdate(msgspec.Struct, gc=False):
    """One ``assetIndexUpdate`` payload; every decimal is an 8-place string."""

    e: str
    E: int
    s: str
    i: str
    b: str
    a: str
    B: str
    A: str
    q: str
    g: str
    Q: str
    G: str


class BracketWire(msgspec.Struct, frozen=True, gc=False):
    """One ``bks`` element. ``mmr``/``cf`` are exact decimals, encoded as JSON numbers."""

    bs: int
    bnf: int
    bnc: int
    mmr: Decimal
    cf: Decimal
    mi: int
    ma: int


class ContractInfoUpdate(msgspec.Struct, gc=False):
    """One ``contractInfo`` payload."""

    e: str
    E: int
    s: str
    ps: str
    ct: str
    dt: int
    ot: int
    cs: str
    bks: list[BracketWire]
    st: int


# Decimals go out as numbers with exactly their digits (``0.0065``, ``148000``).
ENCODER: Final = msgspec.json.Encoder(decimal_format="number")


def encode(obj: object) -> bytes:
    return ENCODER.encode(obj)


# --- decimals --------------------------------------------------------------


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros or an exponent (``500.00`` -> ``500``, ``0E-8`` -> ``0``).

    msgspec writes a Decimal with its own exponent, so this keeps ``5E+2``
    and ``0.0650`` off the wire.
    """
    return Decimal(format(value.normalize(), "f"))


def q8(value: Decimal) -> Decimal:
    return value.quantize(_Q8, rounding=ROUND_HALF_EVEN)


def text8(value: Decimal) -> str:
    # ``f`` format: Decimal("0E-8") would otherwise print as "0E-8".
    return f"{value:f}"
