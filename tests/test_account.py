"""The demo account (signed ``GET /fapi/v3/account``) and the user's scaled brackets."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from binmon.server import ServerConfig
from binmon.server.account import (
    DEMO_POSITIONS,
    account_json,
    maint_margin,
    scale_brackets,
    user_brackets,
)
from binmon.server.app import server_state, start_server
from binmon.server.hub import Hub
from binmon.server.ladders import build_brackets, ladder_rungs
from binmon.server.markets import Market, ScenarioMarket
from binmon.server.state import ServerState
from tests.test_server import KEY, signed_url, write_recording

Q8 = Decimal("0.00000001")


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8, rounding=ROUND_HALF_EVEN)


def check_account(account: dict[str, Any], market: Market) -> None:
    """Every figure follows from the others and the current asset index."""
    latest = market.latest_assets
    margin_usd = wallet_usd = initial_usd = Decimal(0)
    for asset in account["assets"]:
        wallet, profit, margin = (
            Decimal(asset[k]) for k in ("walletBalance", "unrealizedProfit", "marginBalance")
        )
        assert margin == wallet + profit
        assert asset["crossWalletBalance"] == asset["walletBalance"]
        assert asset["crossUnPnl"] == asset["unrealizedProfit"]
        assert asset["positionInitialMargin"] == asset["initialMargin"]
        index = latest[asset["asset"] + "USD"]
        # Owned: valued at the bid rate; owed: at the ask rate.
        margin_usd += margin * Decimal(index.B if margin >= 0 else index.A)
        wallet_usd += wallet * Decimal(index.B if wallet >= 0 else index.A)
        initial_usd += Decimal(asset["initialMargin"]) * Decimal(index.A)
        for key, value in asset.items():
            if key not in ("asset", "updateTime"):
                assert Decimal(value).as_tuple().exponent == -8, (key, value)
    assert Decimal(account["totalMarginBalance"]) == q8(margin_usd)
    assert Decimal(account["totalWalletBalance"]) == q8(wallet_usd)
    assert Decimal(account["totalInitialMargin"]) == q8(initial_usd)
    assert Decimal(account["availableBalance"]) == Decimal(account["totalMarginBalance"]) - Decimal(
        account["totalInitialMargin"]
    )
    usdt = next(a for a in account["assets"] if a["asset"] == "USDT")
    position_margin = sum(Decimal(p["initialMargin"]) for p in account["positions"])
    position_profit = sum(Decimal(p["unrealizedProfit"]) for p in account["positions"])
    assert Decimal(usdt["initialMargin"]) == position_margin
    assert Decimal(usdt["unrealizedProfit"]) == position_profit
    for p, demo in zip(account["positions"], DEMO_POSITIONS, strict=True):
        mark = q8(Decimal(latest[demo.base + "USD"].i) / Decimal(latest["USDTUSD"].i))
        notional = Decimal(p["notional"])
        assert notional == q8(demo.amount * mark)
        assert (notional < 0) == (demo.amount < 0)
        assert Decimal(p["unrealizedProfit"]) == q8(demo.amount * (mark - demo.entry))
        assert Decimal(p["initialMargin"]) == q8(abs(notional) / demo.leverage)
        contract = market.contracts.get(demo.symbol)
        _, brackets = user_brackets(demo.symbol, contract.brackets if contract else [])
        assert Decimal(p["maintMargin"]) == q8(maint_margin(notional, brackets))


def test_multi_assets_mode_figures() -> None:
    market = ServerState(ServerConfig(seed=2)).market
    account = account_json(market, 0)
    balances = {a["asset"]: Decimal(a["walletBalance"]) for a in account["assets"]}
    # One asset in debt, the others backing it.
    assert balances["USDT"] < 0 and balances["BTC"] > 0 and balances["ETH"] > 0
    assert [p["symbol"] for p in account["positions"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    check_account(account, market)


def test_figures_move_with_the_prices() -> None:
    market = ServerState(ServerConfig(seed=2, start_ms=1_767_225_600_000)).market
    assert isinstance(market, ScenarioMarket)
    before = account_json(market, 0)
    hub = Hub()
    for n in range(1, 30):
        market.publish(hub, market.scenario.tick(1_767_225_600_000 + n * 1000))
    after = account_json(market, 0)
    assert after["totalMarginBalance"] != before["totalMarginBalance"]
    assert after["positions"][0]["notional"] != before["positions"][0]["notional"]
    assert after["positions"][0]["updateTime"] > before["positions"][0]["updateTime"]
    check_account(after, market)


def test_scaled_brackets_keep_the_cumulative_rule() -> None:
    default = build_brackets(ladder_rungs("major", 50_000))
    scaled = scale_brackets(default, Decimal("1.5"))
    for d, s in zip(default, scaled, strict=True):
        assert (s.bnf, s.bnc) == (d.bnf * 3 // 2, d.bnc * 3 // 2)
        assert s.cf == d.cf * Decimal("1.5") and (s.mmr, s.ma) == (d.mmr, d.ma)
    for prev, cur in itertools.pairwise(scaled):
        assert cur.cf == prev.cf + cur.bnf * (cur.mmr - prev.mmr)
    assert user_brackets("BTCUSDT", default) == (None, default)
    assert user_brackets("ETHUSDT", default) == (Decimal("1.5"), scaled)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_account_endpoint_is_signed_like_leverage_bracket(
    session: aiohttp.ClientSession,
) -> None:
    runner, port = await start_server(ServerConfig(rate=100, seed=5), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with session.get(signed_url(base, "", path="/fapi/v3/account"), headers=KEY) as r:
            assert r.status == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "5"
            account = await r.json()
        check_account(account, server_state(runner.app).market)
        wrong = signed_url(base, "recvWindow=5000", secret="x" * 64, path="/fapi/v3/account")
        async with session.get(wrong, headers=KEY) as r:
            assert r.status == 400
            assert await r.json() == {
                "code": -1022,
                "msg": "Signature for this request is not valid.",
            }
        async with session.get(signed_url(base, "", path="/fapi/v3/account")) as r:
            assert r.status == 401 and (await r.json())["code"] == -2014
    finally:
        await runner.cleanup()


async def test_leverage_bracket_shows_the_users_coefficient(
    session: aiohttp.ClientSession,
) -> None:
    runner, port = await start_server(ServerConfig(rate=100, seed=5), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with session.get(signed_url(base, "symbol=ETHUSDT"), headers=KEY) as r:
            eth = await r.json()
        async with session.get(signed_url(base, ""), headers=KEY) as r:
            every = {entry["symbol"]: entry for entry in await r.json()}
        default = server_state(runner.app).market.contracts["ETHUSDT"].brackets
    finally:
        await runner.cleanup()
    assert list(eth) == ["symbol", "notionalCoef", "brackets"] and eth["notionalCoef"] == 1.5
    assert every["ETHUSDT"]["notionalCoef"] == 1.5 and "notionalCoef" not in every["BTCUSDT"]
    for wire, shown in zip(default, eth["brackets"], strict=True):
        assert shown["notionalCap"] == wire.bnc * 3 // 2
        assert Decimal(str(shown["cum"])) == wire.cf * Decimal("1.5")


async def test_account_from_a_recording(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_recording(path)
    runner, port = await start_server(ServerConfig(from_file=path), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with session.get(signed_url(base, "", path="/fapi/v3/account"), headers=KEY) as r:
            account = await r.json()
        check_account(account, server_state(runner.app).market)
    finally:
        await runner.cleanup()
