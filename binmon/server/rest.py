"""The REST endpoints of ``binmon serve``: time, exchangeInfo, assetIndex, leverageBracket, account.

Every answer carries the exchange's ``X-MBX-USED-WEIGHT-1M`` header.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from binmon.server import exchange_info
from binmon.server.account import account_json, user_brackets
from binmon.server.contracts import Contract
from binmon.server.signed import api_error, check_signed
from binmon.server.state import STATE_KEY, ServerState
from binmon.server.wire import AssetIndexUpdate, encode


def _json(state: ServerState, obj: Any, weight: int) -> web.Response:
    return web.Response(
        body=encode(obj),
        content_type="application/json",
        headers={"X-MBX-USED-WEIGHT-1M": str(state.use_weight(weight))},
    )


def _symbols_json(state: ServerState) -> list[dict[str, Any]]:
    market = state.market
    if state.symbols_cache is None or state.symbols_cache[0] != market.version:
        symbols = exchange_info.symbols_json(market)
        state.symbols_cache = (market.version, symbols)
    return state.symbols_cache[1]


async def time_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return _json(state, {"serverTime": state.now_ms()}, 1)


async def exchange_info_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.market.ready()
    body = {
        "timezone": "UTC",
        "serverTime": state.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": exchange_info.rate_limits(),
        "exchangeFilters": [],
        "assets": exchange_info.assets_json(state.market),
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


def _cum(value: Decimal, *, single: bool) -> Decimal:
    """``cum`` as the exchange writes it: a double in the list, an integer when whole alone.

    The all-symbols answer has ``0.0``, ``500.0``, ``72.5``; the one-symbol
    answer writes a whole value as an integer (the official SDK's model for
    it is an integer and warns on ``0.0``).
    """
    if value == value.to_integral_value():
        return Decimal(int(value)) if single else Decimal(f"{int(value)}.0")
    return value


def _brackets_json(c: Contract, *, single: bool = False) -> dict[str, Any]:
    coef, brackets = user_brackets(c.symbol, c.brackets)
    out: dict[str, Any] = {"symbol": c.symbol}
    if coef is not None:
        # Shown only where the user's brackets differ from the default ones.
        out["notionalCoef"] = coef
    out["brackets"] = [
        {
            "bracket": b.bs,
            "initialLeverage": b.ma,
            "notionalCap": b.bnc,
            "notionalFloor": b.bnf,
            "maintMarginRatio": b.mmr,
            "cum": _cum(b.cf, single=single),
        }
        for b in brackets
    ]
    return out


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
    return _json(state, _brackets_json(contract, single=True), 1)


async def account_handler(request: web.Request) -> web.Response:
    """``GET /fapi/v3/account``: the demo user's Multi-Assets Mode account (weight 5)."""
    state = request.app[STATE_KEY]
    problem = check_signed(request, state.config, state.now_ms())
    if problem is not None:
        return problem
    await state.market.ready()
    return _json(state, account_json(state.market, state.now_ms()), 5)
