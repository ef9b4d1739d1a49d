"""python-binance against serve: futures REST and the routed ``market`` stream category.

Pointed at serve as python-binance's own docs point it at the testnet: by
setting the client's URL attributes (``client.FUTURES_URL``,
``BinanceSocketManager.FSTREAM_URL``). ``AsyncClient.create()`` is not used:
it pings the spot API (``/api/v3/ping``) and reads the spot server time,
endpoints outside what serve claims; the constructor does neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException

from conformance.conftest import Serve

TIMEOUT = 10.0


@pytest.fixture
async def client(serve: Serve) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(serve.api_key, serve.api_secret)
    client.FUTURES_URL = serve.http + "/fapi"
    try:
        yield client
    finally:
        await client.close_connection()


async def test_futures_time(client: AsyncClient) -> None:
    answer = await client.futures_time()
    assert isinstance(answer["serverTime"], int)


async def test_futures_exchange_info(client: AsyncClient) -> None:
    info = await client.futures_exchange_info()
    assert info["rateLimits"] and len(info["symbols"]) > 600
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    tick = Decimal(next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"])
    assert tick > 0


async def test_futures_leverage_bracket_signed(client: AsyncClient) -> None:
    every = await client.futures_leverage_bracket()
    assert len(every) > 600
    one = await client.futures_leverage_bracket(symbol="ETHUSDT")
    # One object for one symbol, as the exchange answers.
    assert one["symbol"] == "ETHUSDT" and one["brackets"][0]["notionalFloor"] == 0


async def test_a_wrong_secret_is_the_exchanges_error(serve: Serve) -> None:
    client = AsyncClient(serve.api_key, "not-the-secret")
    client.FUTURES_URL = serve.http + "/fapi"
    try:
        with pytest.raises(BinanceAPIException) as caught:
            await client.futures_leverage_bracket(symbol="BTCUSDT")
    finally:
        await client.close_connection()
    assert caught.value.code == -1022


async def test_asset_index(client: AsyncClient) -> None:
    every = await client.futures_v1_get_asset_index()
    assert any(a["symbol"] == "BTCUSD" for a in every)
    one = await client.futures_v1_get_asset_index(symbol="ETHUSD")
    assert one["symbol"] == "ETHUSD" and Decimal(one["bidRate"]) < Decimal(one["askRate"])


async def test_futures_multiplex_socket_on_the_market_route(
    client: AsyncClient, serve: Serve
) -> None:
    manager = BinanceSocketManager(client)
    manager.FSTREAM_URL = serve.ws + "/"
    wanted = {"!assetIndex@arr", "!contractInfo", "btcusd@assetIndex"}
    # category="market" is the default: the routed path /market/stream?streams=...
    socket = manager.futures_multiplex_socket(sorted(wanted), category="market")
    seen: set[str] = set()
    async with socket as stream:
        async with asyncio.timeout(TIMEOUT):
            while seen != wanted:
                message = await stream.recv()
                assert message.get("e") != "error", message
                seen.add(message["stream"])
                if message["stream"] == "btcusd@assetIndex":
                    assert message["data"]["s"] == "BTCUSD"
