"""The generated asset index: random walks around realistic price levels.

Prices are integer units of 1e-8; rates follow ``B = i(1-b)``, ``A = i(1+a)``,
``Q = i(1-q)``, ``G = i(1+g)`` and are quantized to eight places.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from binmon.server.wire import AssetIndexUpdate, q8, text8

_Q8: Final = Decimal("0.00000001")
_UNITS: Final = 10**8


@dataclass(frozen=True, slots=True)
class AssetSpec:
    asset: str
    price: str
    buffer: str  # bid/ask buffer (b, a)
    auto_buffer: str  # auto-exchange bid/ask buffer (q, g)
    volatility: float  # relative standard deviation per tick
    peg: bool = False  # stablecoin-like: mean-reverting around ``price``


# Levels of late 2025 / early 2026. The settlement-asset stablecoins and
# credits (BNFCR, LDUSDT, RWUSD, U, USD1) are there because the integrated
# stream carries them; never assume this list is fixed.
ASSETS: Final[tuple[AssetSpec, ...]] = (
    AssetSpec("BTC", "87250.40000000", "0.05", "0.025", 0.00025),
    AssetSpec("ETH", "2945.70000000", "0.05", "0.025", 0.00035),
    AssetSpec("BNB", "862.30000000", "0.05", "0.025", 0.0003),
    AssetSpec("SOL", "124.85000000", "0", "0", 0.0004),
    AssetSpec("XRP", "1.87400000", "0.1", "0.05", 0.0004),
    AssetSpec("ADA", "0.37120000", "0.1", "0.05", 0.0005),
    AssetSpec("DOGE", "0.12940000", "0.1", "0.05", 0.0005),
    AssetSpec("TRX", "0.28410000", "0", "0", 0.0003),
    AssetSpec("DOT", "1.81200000", "0.1", "0.05", 0.0005),
    AssetSpec("LINK", "12.64000000", "0.1", "0.05", 0.0005),
    AssetSpec("USDT", "0.99891344", "0.0001", "0.0001", 0.00002, peg=True),
    AssetSpec("USDC", "0.99975000", "0.0001", "0.0001", 0.00002, peg=True),
    AssetSpec("FDUSD", "0.99840000", "0.0001", "0.0001", 0.00003, peg=True),
    AssetSpec("BFUSD", "0.99960000", "0.0001", "0.0001", 0.00002, peg=True),
    AssetSpec("USD1", "0.99930000", "0.0005", "0.0002", 0.00003, peg=True),
    AssetSpec("BNFCR", "1.00000000", "0", "0", 0.0, peg=True),
    AssetSpec("LDUSDT", "1.00210000", "0.0001", "0.0001", 0.00001, peg=True),
    AssetSpec("RWUSD", "1.00050000", "0.0001", "0.0001", 0.00001, peg=True),
    AssetSpec("U", "0.99980000", "0.0005", "0.0002", 0.00003, peg=True),
)


class AssetWalk:
    """Random-walk state of one asset index entry, prices in units of 1e-8."""

    __slots__ = (
        "auto_down",
        "auto_up",
        "bstr",
        "down",
        "gstr",
        "peg",
        "sigma",
        "symbol",
        "units",
        "up",
    )

    def __init__(self, spec: AssetSpec) -> None:
        self.symbol = f"{spec.asset}USD"
        self.units = int(Decimal(spec.price) * _UNITS)
        self.peg = self.units if spec.peg else 0
        self.sigma = spec.volatility
        b = q8(Decimal(spec.buffer))
        g = q8(Decimal(spec.auto_buffer))
        self.bstr = text8(b)
        self.gstr = text8(g)
        # B = i(1-b), A = i(1+a), Q = i(1-q), G = i(1+g); the exchange's
        # buffers are symmetric (b = a, q = g) in every sample seen.
        self.down, self.up = 1 - b, 1 + b
        self.auto_down, self.auto_up = 1 - g, 1 + g

    def step(self, rng: random.Random) -> None:
        if not self.sigma:
            return
        if self.peg:
            # Mean-reverting: stablecoins wobble around their level, never drift off.
            drift = (self.peg - self.units) * 0.05
            self.units += round(drift + self.peg * self.sigma * rng.gauss(0.0, 1.0))
        else:
            self.units += round(self.units * self.sigma * rng.gauss(0.0, 1.0))
        self.units = max(self.units, 1)

    def update(self, event_ms: int) -> AssetIndexUpdate:
        # Inlined quantize/format: this runs for every asset on every tick.
        i = Decimal(self.units).scaleb(-8)
        bs, gs = self.bstr, self.gstr
        return AssetIndexUpdate(
            "assetIndexUpdate",
            event_ms,
            self.symbol,
            f"{i:f}",
            bs,
            bs,
            f"{(i * self.down).quantize(_Q8, ROUND_HALF_EVEN):f}",
            f"{(i * self.up).quantize(_Q8, ROUND_HALF_EVEN):f}",
            gs,
            gs,
            f"{(i * self.auto_down).quantize(_Q8, ROUND_HALF_EVEN):f}",
            f"{(i * self.auto_up).quantize(_Q8, ROUND_HALF_EVEN):f}",
        )
