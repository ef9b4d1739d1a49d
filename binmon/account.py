"""The signed ``GET /fapi/v3/account`` answer: holdings and positions. No I/O.

Only what collateral and position maths need is decoded; every other field
may be anything. Numbers are read from their exact text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from binmon.collateral import Holding
from binmon.protocol import number_text, optional_number_text


class _Asset(msgspec.Struct, gc=False):
    asset: str
    marginBalance: msgspec.Raw


class _Position(msgspec.Struct, gc=False):
    symbol: str
    notional: msgspec.Raw


class _Account(msgspec.Struct, gc=False):
    assets: list[_Asset] = msgspec.field(default_factory=list)
    positions: list[_Position] = msgspec.field(default_factory=list)
    totalMarginBalance: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


_ACCOUNT: Final = msgspec.json.Decoder(_Account)


@dataclass(frozen=True, slots=True)
class Account:
    """Non-zero margin balances in the account's order, and position sizes by symbol."""

    holdings: tuple[Holding, ...] = ()
    positions: dict[str, Decimal] = field(default_factory=dict)
    # The exchange's own total (USD in Multi-Assets Mode), exact text.
    total_margin_balance: str | None = None


def decode_account(body: bytes) -> Account:
    """Raises ``ValueError`` (``msgspec.DecodeError`` is one) for any other shape."""
    answer = _ACCOUNT.decode(body)
    holdings: list[Holding] = []
    seen: set[str] = set()
    for a in answer.assets:
        quantity = Decimal(number_text(a.marginBalance))
        asset = a.asset.upper()
        if quantity.is_zero() or not asset or asset in seen:
            continue
        seen.add(asset)
        holdings.append(Holding(asset, quantity))
    positions: dict[str, Decimal] = {}
    for p in answer.positions:
        notional = Decimal(number_text(p.notional)).copy_abs()
        if notional.is_zero():
            continue
        # Hedge Mode lists a long and a short side: each is its own position on
        # the ladder, and the larger one is the one the brackets bind first.
        positions[p.symbol] = max(notional, positions.get(p.symbol, notional))
    return Account(tuple(holdings), positions, optional_number_text(answer.totalMarginBalance))
