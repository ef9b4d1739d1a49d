"""The REST endpoints of ``binmon serve``: time, exchangeInfo, assetIndex, leverageBracket.

Every answer carries the exchange's ``X-MBX-USED-WEIGHT-1M`` header.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from binmon.server.scenario import AssetIndexUpdate, Contract, build_brackets, encode, ladder_rungs
from binmon.server.signed import api_error, check_signed
from binmon.server.state import STATE_KEY, ServerState


def _json(state: ServerState, obj: Any, weight: int) -> web.Response:
    return web.Response(
        body=encode(obj),
        content_type="application/json",
        headers={"X-MBX-USED-WEIGHT-1M": str(state.use_weight(weight))},
    )


_AUTO_EXCHANGE: Final = {
    "USDT": "-10000",
    "BTC": "-0.00100000",
    "ETH": "-0.00100000",
    "BNB": "-0.00100000",
    "USDC": "-10000",
    "BNFCR": "-10000",
}


_ORDER_TYPES: Final = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def _rate_limit(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def _symbol_json(c: Contract) -> dict[str, Any]:
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
        "pricePrecision": 2 if c.base in ("BTC", "ETH") else 4,
        "quantityPrecision": 3 if c.base in ("BTC", "ETH") else 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": c.underlying,
        "underlyingSubType": list(c.subtypes),
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "orderTypes": _ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


def _symbols_json(state: ServerState) -> list[dict[str, Any]]:
    market = state.market
    if state.symbols_cache is None or state.symbols_cache[0] != market.version:
        symbols = [_symbol_json(c) for c in market.contracts.values()]
        state.symbols_cache = (market.version, symbols)
    return state.symbols_cache[1]


async def time_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return _json(state, {"serverTime": state.now_ms()}, 1)


async def exchange_info_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.market.ready()
    assets = [
        {
            "asset": symbol.removesuffix("USD"),
            "marginAvailable": True,
            "autoAssetExchange": _AUTO_EXCHANGE.get(symbol.removesuffix("USD"), "0"),
        }
        for symbol in state.market.latest_assets
    ]
    body = {
        "timezone": "UTC",
        "serverTime": state.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            _rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
            _rate_limit("ORDERS", "MINUTE", 1, 1200),
            _rate_limit("ORDERS", "SECOND", 10, 300),
        ],
        "exchangeFilters": [],
        "assets": assets,
        "symbols": _symbols_json(state),
    }
    return _json(state, body, 1)


def _asset_json(a: AssetIndexUpdate) -> dict[str, Any]:
    return {
        "symbol": a.s,
        "time": a.E,
        "index": a.i,
        "bidBuffer": a.b,
        "askBuffer": a.a,
        "bidRate": a.B,
        "askRate": a.A,
        "autoExchangeBidBuffer": a.q,
        "autoExchangeAskBuffer": a.g,
        "autoExchangeBidRate": a.Q,
        "autoExchangeAskRate": a.G,
    }


async def asset_index_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.market.ready()
    symbol = request.query.get("symbol")
    latest = state.market.latest_assets
    if symbol is None:
        return _json(state, [_asset_json(a) for a in latest.values()], 10)
    entry = latest.get(symbol.upper())
    if entry is None:
        return api_error(400, -1121, "Invalid symbol.")
    return _json(state, _asset_json(entry), 1)


def _cum(value: Decimal) -> Decimal:
    # The REST endpoint writes cum as a double: 0.0, 500.0, 72.5.
    if value == value.to_integral_value():
        return Decimal(f"{int(value)}.0")
    return value


def _brackets_json(c: Contract) -> dict[str, Any]:
    brackets = c.brackets or build_brackets(ladder_rungs("small", 5000))
    return {
        "symbol": c.symbol,
        "brackets": [
            {
                "bracket": b.bs,
                "initialLeverage": b.ma,
                "notionalCap": b.bnc,
                "notionalFloor": b.bnf,
                "maintMarginRatio": b.mmr,
                "cum": _cum(b.cf),
            }
            for b in brackets
        ],
    }


async def leverage_bracket_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    problem = check_signed(request, state.config, state.now_ms())
    if problem is not None:
        return problem
    await state.market.ready()
    contracts = state.market.contracts
    symbol = request.query.get("symbol")
    if symbol is None:
        return _json(state, [_brackets_json(c) for c in contracts.values()], 1)
    contract = contracts.get(symbol.upper())
    if contract is None:
        return api_error(400, -1121, "Invalid symbol.")
    return _json(state, _brackets_json(contract), 1)
