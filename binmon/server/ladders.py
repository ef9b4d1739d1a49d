"""Leverage bracket ladders: the shapes the exchange uses, and the cumulative rule.

``cf(n) = cf(n-1) + bnf(n)·(mmr(n) - mmr(n-1))``, computed with
:class:`~decimal.Decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from binmon.server.wire import BracketWire, plain

# One rung of a ladder before floors and cumulative amounts are derived:
# (max leverage, maintenance margin ratio, notional cap).
Rung = tuple[int, Decimal, int]


def build_brackets(rungs: list[Rung]) -> list[BracketWire]:
    """Derive a full ladder: floor = previous cap, ``cf(n) = cf(n-1) + bnf(n)·(mmr(n) - mmr(n-1))``.

    ``mi`` of a bracket is one more than the next bracket's ``ma`` (the last
    bracket's is 1), which is how the exchange's own ladders read.
    """
    out: list[BracketWire] = []
    floor = 0
    cum = Decimal(0)
    prev_mmr: Decimal | None = None
    for n, (lev, mmr, cap) in enumerate(rungs, 1):
        if prev_mmr is not None:
            cum += floor * (mmr - prev_mmr)
        mi = rungs[n][0] + 1 if n < len(rungs) else 1
        out.append(BracketWire(n, floor, cap, plain(mmr), plain(cum), mi, lev))
        floor = cap
        prev_mmr = mmr
    return out


def _decimals(text: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(word) for word in text.split())


# (leverages, maintenance margin ratios, cap multipliers of the first cap)
_LADDERS: Final[dict[str, tuple[tuple[int, ...], tuple[Decimal, ...], tuple[int, ...]]]] = {
    "major": (
        (125, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1),
        _decimals("0.004 0.005 0.0065 0.01 0.02 0.025 0.05 0.1 0.125 0.15 0.25 0.5"),
        (1, 3, 10, 40, 200, 300, 700, 1500, 2000, 2600, 4000, 6000),
    ),
    "large": (
        (75, 50, 25, 20, 10, 5, 4, 2, 1),
        _decimals("0.01 0.015 0.02 0.025 0.05 0.1 0.125 0.25 0.5"),
        (1, 4, 12, 30, 120, 250, 400, 800, 1500),
    ),
    "mid": (
        (50, 25, 20, 10, 5, 4, 2, 1),
        _decimals("0.015 0.02 0.025 0.05 0.1 0.125 0.25 0.5"),
        (1, 5, 10, 50, 100, 150, 300, 500),
    ),
    "small": (
        (20, 10, 5, 4, 2, 1),
        _decimals("0.025 0.05 0.1 0.125 0.25 0.5"),
        (1, 6, 16, 40, 100, 140),
    ),
    "quarter": (
        (50, 25, 20, 10, 5, 4, 2, 1),
        _decimals("0.01 0.02 0.025 0.05 0.1 0.125 0.25 0.5"),
        (1, 3, 8, 20, 50, 80, 150, 250),
    ),
}


def ladder_rungs(kind: str, first_cap: int) -> list[Rung]:
    levs, mmrs, mults = _LADDERS[kind]
    return [(lev, mmr, first_cap * m) for lev, mmr, m in zip(levs, mmrs, mults, strict=True)]


_NICE: Final = (10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 80)


def nice_between(lo: int, hi: int, exclude: int) -> list[int]:
    """Round numbers strictly between ``lo`` and ``hi``, as a risk team would pick caps."""
    found = []
    scale = 1
    while scale * 10 <= max(hi, 10):
        for m in _NICE:
            v = m * scale
            if lo < v < hi and v != exclude:
                found.append(v)
        scale *= 10
    return sorted(set(found))
