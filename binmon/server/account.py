"""The demo user behind the signed endpoints: a Multi-Assets Mode account, valued live.

``GET /fapi/v3/account`` answers with a fixed set of balances (one of them
negative, as a Multi-Assets Mode account may run one asset into debt against
the others) and positions, valued at the market's current asset index, so
its numbers move with the scenario's prices (or a recording's). The rules are
the exchange's (Binance FAQ "How to Calculate Margin Ratio in Multi-Assets
Mode", Account Information V3):

- an asset's ``marginBalance`` = ``walletBalance`` + ``unrealizedProfit``;
- the account totals are in USD: each asset's amount valued at its index
  bid rate when positive and its ask rate when negative (the buffers are
  the haircut); margins, being owed, at the ask rate;
- ``availableBalance`` = ``totalMarginBalance`` − ``totalInitialMargin``;
  an asset's own ``availableBalance`` is that USD amount in units of the
  asset (at its index price), its ``maxWithdrawAmount`` no more than it holds;
- a position's maintenance margin = |notional| × maintMarginRatio − cum of
  the bracket its notional falls in, with the user's brackets: the default
  ones scaled by a per-symbol ``notionalCoef`` where the user has one.

Every amount is computed with :class:`~decimal.Decimal` and written with
eight decimals, as the exchange writes them; a total is rounded once, after
summing the exact products of the amounts it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from binmon.server.exchange_info import synthetic_price
from binmon.server.ladders import build_brackets, ladder_rungs
from binmon.server.markets import Market
from binmon.server.wire import AssetIndexUpdate, BracketWire, plain, q8

_ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class DemoPosition:
    symbol: str
    base: str
    quote: str  # also the margin asset: USDⓈ-M positions are margined in their quote
    amount: Decimal  # signed: negative is short
    entry: Decimal
    leverage: int


# USDT in debt, backed by the coins: the case Multi-Assets Mode exists for.
DEMO_BALANCES: Final = (
    ("USDT", Decimal("-2500.00000000")),
    ("BTC", Decimal("0.50000000")),
    ("ETH", Decimal("4.00000000")),
    ("BNB", Decimal("12.00000000")),
)
DEMO_POSITIONS: Final = (
    DemoPosition("BTCUSDT", "BTC", "USDT", Decimal("0.250"), Decimal("84000.0"), 10),
    DemoPosition("ETHUSDT", "ETH", "USDT", Decimal("-3.000"), Decimal("3050.00"), 5),
    DemoPosition("SOLUSDT", "SOL", "USDT", Decimal("40"), Decimal("118.50"), 20),
)
# The user's brackets differ from the default ones for these symbols: the
# default brackets scaled by the coefficient (leverageBracket shows it).
NOTIONAL_COEF: Final = {"ETHUSDT": Decimal("1.5")}


def _text(value: Decimal) -> str:
    return f"{q8(value):f}"


def default_brackets(brackets: list[BracketWire]) -> list[BracketWire]:
    # A symbol whose brackets were never seen (a recording without them).
    return brackets or build_brackets(ladder_rungs("small", 5000))


def scale_brackets(brackets: list[BracketWire], coef: Decimal) -> list[BracketWire]:
    """The default brackets with floors and caps × ``coef``; cum follows from them.

    ``cum(n) = cum(n−1) + floor(n)·(mmr(n) − mmr(n−1))`` is linear in the
    floors, so it scales with them; recomputing it keeps the rule exact even
    where a scaled floor had to be rounded to a whole number.
    """
    out: list[BracketWire] = []
    cum = brackets[0].cf * coef if brackets else _ZERO
    prev: BracketWire | None = None
    for b in brackets:
        floor = int((b.bnf * coef).to_integral_value(ROUND_HALF_EVEN))
        cap = int((b.bnc * coef).to_integral_value(ROUND_HALF_EVEN))
        if prev is not None:
            cum += floor * (b.mmr - prev.mmr)
        out.append(BracketWire(b.bs, floor, cap, b.mmr, plain(cum), b.mi, b.ma))
        prev = b
    return out


def user_brackets(
    symbol: str, brackets: list[BracketWire]
) -> tuple[Decimal | None, list[BracketWire]]:
    """The demo user's notionalCoef for ``symbol`` (None: the default) and brackets."""
    coef = NOTIONAL_COEF.get(symbol)
    brackets = default_brackets(brackets)
    return (coef, scale_brackets(brackets, coef)) if coef is not None else (None, brackets)


def maint_margin(notional: Decimal, brackets: list[BracketWire]) -> Decimal:
    size = abs(notional)
    bracket = next((b for b in brackets if size < b.bnc), brackets[-1])
    return size * bracket.mmr - bracket.cf


def _value(amount: Decimal, index: AssetIndexUpdate | None) -> Decimal:
    """USD value of an amount of an asset: bid rate if it is owned, ask rate if owed."""
    if index is None:
        return amount
    return amount * Decimal(index.B if amount >= 0 else index.A)


def _owed(amount: Decimal, index: AssetIndexUpdate | None) -> Decimal:
    return amount if index is None else amount * Decimal(index.A)


def _price(market: Market, asset: str) -> Decimal:
    index = market.latest_assets.get(asset + "USD")
    return Decimal(index.i) if index is not None else synthetic_price(asset)


def account_json(market: Market, now_ms: int) -> dict[str, Any]:
    latest = market.latest_assets
    updated = max((a.E for a in latest.values()), default=now_ms)
    positions: list[dict[str, Any]] = []
    # Per margin asset: unrealised profit, initial margin, maintenance margin.
    pnl: dict[str, Decimal] = {}
    initial: dict[str, Decimal] = {}
    maint: dict[str, Decimal] = {}
    for p in DEMO_POSITIONS:
        mark = q8(_price(market, p.base) / _price(market, p.quote))
        notional = q8(p.amount * mark)
        profit = q8(p.amount * (mark - p.entry))
        contract = market.contracts.get(p.symbol)
        _, brackets = user_brackets(p.symbol, contract.brackets if contract else [])
        im = q8(abs(notional) / p.leverage)
        mm = q8(maint_margin(notional, brackets))
        pnl[p.quote] = pnl.get(p.quote, _ZERO) + profit
        initial[p.quote] = initial.get(p.quote, _ZERO) + im
        maint[p.quote] = maint.get(p.quote, _ZERO) + mm
        positions.append(
            {
                "symbol": p.symbol,
                "positionSide": "BOTH",
                "positionAmt": f"{p.amount:f}",
                "unrealizedProfit": _text(profit),
                "isolatedMargin": "0",
                "notional": _text(notional),
                "isolatedWallet": "0",
                "initialMargin": _text(im),
                "maintMargin": _text(mm),
                "updateTime": updated,
            }
        )
    wallet_usd = profit_usd = margin_usd = initial_usd = maint_usd = _ZERO
    rows: list[tuple[str, Decimal, Decimal, Decimal, Decimal, Decimal]] = []
    for asset, wallet in DEMO_BALANCES:
        index = latest.get(asset + "USD")
        profit, im, mm = pnl.get(asset, _ZERO), initial.get(asset, _ZERO), maint.get(asset, _ZERO)
        margin = wallet + profit
        wallet_usd += _value(wallet, index)
        profit_usd += _value(profit, index)
        margin_usd += _value(margin, index)
        initial_usd += _owed(im, index)
        maint_usd += _owed(mm, index)
        rows.append((asset, wallet, profit, margin, im, mm))
    available_usd = q8(margin_usd) - q8(initial_usd)
    assets = []
    for asset, wallet, profit, margin, im, mm in rows:
        available = q8(available_usd / _price(market, asset))
        assets.append(
            {
                "asset": asset,
                "walletBalance": _text(wallet),
                "unrealizedProfit": _text(profit),
                "marginBalance": _text(margin),
                "maintMargin": _text(mm),
                "initialMargin": _text(im),
                "positionInitialMargin": _text(im),
                "openOrderInitialMargin": _text(_ZERO),
                "crossWalletBalance": _text(wallet),
                "crossUnPnl": _text(profit),
                "availableBalance": _text(available),
                "maxWithdrawAmount": _text(max(_ZERO, min(wallet, available))),
                "updateTime": updated,
            }
        )
    return {
        "totalInitialMargin": _text(initial_usd),
        "totalMaintMargin": _text(maint_usd),
        "totalWalletBalance": _text(wallet_usd),
        "totalUnrealizedProfit": _text(profit_usd),
        "totalMarginBalance": _text(margin_usd),
        "totalPositionInitialMargin": _text(initial_usd),
        "totalOpenOrderInitialMargin": _text(_ZERO),
        "totalCrossWalletBalance": _text(wallet_usd),
        "totalCrossUnPnl": _text(profit_usd),
        "availableBalance": _text(available_usd),
        "maxWithdrawAmount": _text(max(_ZERO, min(available_usd, q8(wallet_usd)))),
        "assets": assets,
        "positions": positions,
    }
