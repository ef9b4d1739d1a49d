"""Binance's official SDK (``binance-sdk-derivatives-trading-usds-futures``) against serve.

Pointed at serve through its documented options only:
``ConfigurationWebSocketStreams(stream_url=...)`` (the SDK appends
``/stream`` and opens one connection per route, ``/market``, ``/public`` and
``/private``) and ``ConfigurationRestAPI(base_path=..., api_key=...,
api_secret=...)`` with the demo key and secret serve prints. Every message
and answer goes through the SDK's own pydantic models, so a field of the
wrong type or shape fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    AccountInformationV3Response,
    AssetIndexResponse1,
    AssetIndexResponse2,
    CheckServerTimeResponse,
    ExchangeInformationResponse,
    NotionalAndLeverageBracketsResponse1Inner,
    NotionalAndLeverageBracketsResponse2,
)
from binance_sdk_derivatives_trading_usds_futures.websocket_streams.models import (
    AssetIndexResponse,
    ContractInfoStreamResponse,
)

from conformance.conftest import Serve

TIMEOUT = 10.0


class Inbox:
    """Messages handed to a callback, and a way to wait for enough of them."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Any) -> None:
        self.items.extend(message if isinstance(message, list) else [message])
        self._changed.set()

    async def wait(self, predicate: Callable[[list[Any]], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def streams(serve: Serve) -> AsyncIterator[Any]:
    client = DerivativesTradingUsdsFutures(
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=serve.ws)
    )
    connection = await client.websocket_streams.create_connection()
    assert connection is not None, "the SDK could not connect (it logs why)"
    try:
        yield connection
    finally:
        await connection.close_connection(close_session=True)


@pytest.fixture
def rest(serve: Serve) -> Any:
    client = DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(
            api_key=serve.api_key, api_secret=serve.api_secret, base_path=serve.http
        )
    )
    return client.rest_api


async def test_asset_index_stream(streams: Any) -> None:
    inbox = Inbox()
    (await streams.asset_index()).on("message", inbox)
    # Two whole frames, each every asset, each element validated by the SDK.
    await inbox.wait(lambda items: len({m.E for m in items}) >= 2)
    assert all(isinstance(m, AssetIndexResponse) for m in inbox.items)
    btc = next(m for m in inbox.items if m.s == "BTCUSD")
    assert btc.e == "assetIndexUpdate" and btc.i and btc.B and btc.A


async def test_contract_info_stream(streams: Any) -> None:
    inbox = Inbox()
    (await streams.contract_info_stream()).on("message", inbox)
    await inbox.wait(lambda items: len(items) >= 2)
    assert all(isinstance(m, ContractInfoStreamResponse) for m in inbox.items)
    assert all(m.e == "contractInfo" and m.s for m in inbox.items)


async def test_subscribe_list_unsubscribe_one_asset(streams: Any) -> None:
    inbox = Inbox()
    stream = "btcusd@assetIndex"
    await streams.subscribe([stream], response_model=AssetIndexResponse, stream_url="market")
    streams.on("message", inbox, stream)
    await inbox.wait(lambda items: len(items) >= 2)
    assert {m.s for m in inbox.items} == {"BTCUSD"}
    # LIST_SUBSCRIPTIONS with a UUID id: the answer comes back to the SDK's request.
    listed = await streams.list_subscribe()
    assert listed is not None and listed["result"] == [stream]
    await streams.unsubscribe([stream])
    listed = await streams.list_subscribe()
    assert listed is not None and listed["result"] == []


def test_rest_server_time(rest: Any) -> None:
    response = rest.check_server_time()
    assert response.status == 200
    assert isinstance(response.data(), CheckServerTimeResponse)
    assert response.data().server_time > 1_600_000_000_000


def test_rest_exchange_information(rest: Any) -> None:
    info = rest.exchange_information().data()
    assert isinstance(info, ExchangeInformationResponse)
    assert info.rate_limits and info.assets and len(info.symbols) > 600
    btc = next(s for s in info.symbols if s.symbol == "BTCUSDT")
    kinds = {f.filter_type for f in btc.filters}
    assert {"PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL", "PERCENT_PRICE"} <= kinds
    assert btc.order_types and btc.time_in_force and btc.price_precision is not None


def test_rest_asset_index_all_and_one(rest: Any) -> None:
    every = rest.asset_index().data().actual_instance
    assert len(every) >= 10 and all(isinstance(a, AssetIndexResponse2) for a in every)
    one = rest.asset_index(symbol="BTCUSD").data().actual_instance
    assert isinstance(one, AssetIndexResponse1) and one.symbol == "BTCUSD"


def test_rest_brackets_all_and_one_signed_with_the_demo_key(rest: Any) -> None:
    every = rest.notional_and_leverage_brackets().data().actual_instance
    assert len(every) > 600
    assert all(isinstance(s, NotionalAndLeverageBracketsResponse1Inner) for s in every)
    one = rest.notional_and_leverage_brackets(symbol="BTCUSDT").data().actual_instance
    # The one-symbol model wants cum as an integer: serve writes 0, not 0.0.
    assert isinstance(one, NotionalAndLeverageBracketsResponse2)
    assert one.symbol == "BTCUSDT" and one.brackets[0].cum == 0


def test_rest_account_v3_and_a_users_notional_coefficient(rest: Any) -> None:
    account = rest.account_information_v3().data()
    assert isinstance(account, AccountInformationV3Response)
    assert {a.asset for a in account.assets} >= {"USDT", "BTC", "ETH"}
    assert any(p.symbol == "BTCUSDT" for p in account.positions)
    eth = rest.notional_and_leverage_brackets(symbol="ETHUSDT").data().actual_instance
    assert isinstance(eth, NotionalAndLeverageBracketsResponse2) and eth.notional_coef == 1.5
