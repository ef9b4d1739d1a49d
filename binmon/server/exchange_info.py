"""``GET /fapi/v1/exchangeInfo`` as the exchange shapes it, trading rules included.

Clients such as ccxt read each symbol's filters for precision and limits, so
every symbol carries the full set the exchange sends (PRICE_FILTER,
LOT_SIZE, MARKET_LOT_SIZE, MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MIN_NOTIONAL,
PERCENT_PRICE, POSITION_RISK_CONTROL), with values derived from one
reference price per contract so that they agree with each other: the tick
size leaves the price five or six significant digits, the price band holds
the price, a lot is worth a sensible amount, and the largest order clears
the minimum notional. The rules are fixed per contract (the exchange does not
retick on every move), so the reference price is the market's first one, not
the current one. A ``settlePlan`` field is not sent: the exchange's own
untrimmed answers do not carry it.
"""

from __future__ import annotations

import zlib
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from binmon.server.contracts import Contract
from binmon.server.markets import Market

_ORDER_TYPES: Final = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]
_TIME_IN_FORCE: Final = ["GTC", "IOC", "FOK", "GTX", "GTD"]

_AUTO_EXCHANGE: Final = {
    "USDT": "-10000",
    "BTC": "-0.00100000",
    "ETH": "-0.00100000",
    "BNB": "-0.00100000",
    "USDC": "-10000",
    "BNFCR": "-10000",
}

# Quotes whose unit is (about) one US dollar: a contract quoted in one of them
# is priced at its base's USD index; any other quote (ETHBTC) is a cross rate.
_DOLLARS: Final = frozenset({"USDT", "USDC", "USD", "FDUSD", "BUSD", "BFUSD", "USD1", "U"})
_MAJORS: Final = frozenset({"BTC", "ETH"})
# (major perpetual, perpetual): the rates seen on BTC/ETH, other perpetuals, quarterlies.
_LIQUIDATION_FEE: Final = {
    (True, True): "0.020000",
    (False, True): "0.012500",
    (False, False): "0.010000",
    (True, False): "0.010000",
}
# Largest order worth about this many dollars.
_MAX_ORDER_USD: Final = Decimal(20_000_000)


def rate_limits() -> list[dict[str, Any]]:
    return [
        _rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
        _rate_limit("ORDERS", "MINUTE", 1, 1200),
        _rate_limit("ORDERS", "SECOND", 10, 300),
    ]


def _rate_limit(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def assets_json(market: Market) -> list[dict[str, Any]]:
    return [
        {
            "asset": symbol.removesuffix("USD"),
            "marginAvailable": True,
            "autoAssetExchange": _AUTO_EXCHANGE.get(symbol.removesuffix("USD"), "0"),
        }
        for symbol in market.latest_assets
    ]


def synthetic_price(asset: str) -> Decimal:
    """A stable, plausible USD price for an asset without an index: 0.001 to 1000.

    Derived from the name alone (CRC-32, not Python's salted ``hash``), so a
    contract's trading rules are the same on every run and in every process.
    """
    spread = zlib.crc32(asset.encode()) % 60_000  # six decades, 10,000 steps each
    mantissa = (Decimal(10) ** (Decimal(spread % 10_000) / 10_000)).quantize(Decimal("0.01"))
    return mantissa.scaleb(spread // 10_000 - 3)


def reference_price(contract: Contract, prices: dict[str, Decimal]) -> Decimal:
    """The contract's price in its quote asset, from the USD reference prices of assets."""
    base = prices.get(contract.base) or synthetic_price(contract.base)
    if contract.quote in _DOLLARS:
        return base
    quote = prices.get(contract.quote) or synthetic_price(contract.quote)
    return base / quote


def _power(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def _text(value: Decimal, places: int) -> str:
    return f"{value.quantize(_power(-places)):f}"


def filters(contract: Contract, price: Decimal) -> tuple[list[dict[str, Any]], int, int]:
    """The symbol's filters, price precision and quantity precision, all from ``price``."""
    magnitude = price.adjusted()  # floor(log10(price))
    # Six significant digits from 1,000 up (BTC 0.1, ETH 0.01), five below.
    digits = 6 if magnitude >= 3 else 5
    price_places = min(8, max(0, digits - 1 - magnitude))
    tick = _power(-price_places)
    min_price = max(tick, (price / 100).quantize(tick, ROUND_DOWN))
    max_price = max(min_price, (price * 10).quantize(tick, ROUND_HALF_EVEN))
    qty_places = min(3, max(0, magnitude + 1))
    step = _power(-qty_places)
    max_qty = _power((_MAX_ORDER_USD / price).adjusted() + 1).max(step)
    major_perpetual = contract.base in _MAJORS and contract.contract_type == "PERPETUAL"
    min_notional = "100" if contract.base == "BTC" else "20" if contract.base == "ETH" else "5"
    tight = contract.base in _MAJORS or contract.contract_type != "PERPETUAL"
    band = Decimal("0.0500") if tight else Decimal("0.1000")
    out: list[dict[str, Any]] = [
        {
            "minPrice": _text(min_price, price_places),
            "filterType": "PRICE_FILTER",
            "maxPrice": _text(max_price, price_places),
            "tickSize": _text(tick, price_places),
        },
        {
            "maxQty": f"{max_qty:f}",
            "stepSize": _text(step, qty_places),
            "minQty": _text(step, qty_places),
            "filterType": "LOT_SIZE",
        },
        {
            "maxQty": f"{max_qty:f}",
            "filterType": "MARKET_LOT_SIZE",
            "stepSize": _text(step, qty_places),
            "minQty": _text(step, qty_places),
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 10000 if major_perpetual else 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": min_notional},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": f"{1 + band:f}",
            "multiplierDecimal": "4",
            "multiplierDown": f"{1 - band:f}",
        },
        {"filterType": "POSITION_RISK_CONTROL", "positionControlSide": "NONE"},
    ]
    return out, price_places, qty_places


def symbol_json(contract: Contract, price: Decimal) -> dict[str, Any]:
    c = contract
    symbol_filters, price_places, qty_places = filters(c, price)
    perpetual = c.contract_type == "PERPETUAL"
    major_perpetual = c.base in _MAJORS and perpetual
    return {
        "symbol": c.symbol,
        "pair": c.pair,
        "contractType": c.contract_type,
        "deliveryDate": c.delivery_ms,
        "onboardDate": c.onboard_ms,
        "status": c.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": c.base,
        "quoteAsset": c.quote,
        "marginAsset": c.margin,
        "pricePrecision": price_places,
        "quantityPrecision": qty_places,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": c.underlying,
        "underlyingSubType": list(c.subtypes),
        "triggerProtect": "0.0500",
        "liquidationFee": "0.020000"
        if major_perpetual
        else "0.012500"
        if perpetual
        else "0.010000",
        "marketTakeBound": "0.10" if perpetual else "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": symbol_filters,
        "orderTypes": _ORDER_TYPES,
        "timeInForce": _TIME_IN_FORCE,
        "permissionSets": ["GRID", "COPY"] if major_perpetual else ["GRID", "COPY", "DCA"],
    }


def symbols_json(market: Market) -> list[dict[str, Any]]:
    prices = market.reference_prices()
    return [symbol_json(c, reference_price(c, prices)) for c in market.contracts.values()]
