"""exchangeInfo's trading rules: the real shape, and values that agree with each contract."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from binmon.recording import snapshot_payload
from binmon.server import ServerConfig
from binmon.server.app import server_state, start_server
from binmon.server.exchange_info import reference_price, symbols_json, synthetic_price
from binmon.server.state import ServerState
from binmon.state import Contract
from tests.test_server import write_recording

FILTER_TYPES = [
    "PRICE_FILTER",
    "LOT_SIZE",
    "MARKET_LOT_SIZE",
    "MAX_NUM_ORDERS",
    "MAX_NUM_ALGO_ORDERS",
    "MIN_NOTIONAL",
    "PERCENT_PRICE",
    "POSITION_RISK_CONTROL",
]


def places(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def check_rules(symbol: dict[str, Any], price: Decimal) -> None:
    """Every rule of one symbol agrees with the others and with its price."""
    rules = {f["filterType"]: f for f in symbol["filters"]}
    assert [f["filterType"] for f in symbol["filters"]] == FILTER_TYPES
    band = rules["PRICE_FILTER"]
    tick, low, high = (Decimal(band[k]) for k in ("tickSize", "minPrice", "maxPrice"))
    assert tick > 0 and low % tick == 0 and high % tick == 0
    assert low <= price <= high, (symbol["symbol"], price)
    # Five or six significant digits at this price, as on the exchange.
    assert price / 10**6 <= tick <= price / 10**3 or tick == Decimal("1e-8")
    assert places(band["tickSize"]) == symbol["pricePrecision"]
    for kind in ("LOT_SIZE", "MARKET_LOT_SIZE"):
        lot = rules[kind]
        step = Decimal(lot["stepSize"])
        assert (
            lot["minQty"] == lot["stepSize"]
            and places(lot["stepSize"]) == symbol["quantityPrecision"]
        )
        assert Decimal(lot["maxQty"]) % step == 0
        # The largest order clears the minimum notional by far.
        assert Decimal(lot["maxQty"]) * price >= 1000 * Decimal(rules["MIN_NOTIONAL"]["notional"])
    percent = rules["PERCENT_PRICE"]
    assert Decimal(percent["multiplierUp"]) + Decimal(percent["multiplierDown"]) == 2
    assert places(percent["multiplierUp"]) == int(percent["multiplierDecimal"])
    assert isinstance(rules["MAX_NUM_ORDERS"]["limit"], int)


def test_every_generated_symbol_has_consistent_rules() -> None:
    state = ServerState(ServerConfig(seed=3))
    prices = state.market.reference_prices()
    symbols = symbols_json(state.market)
    assert len(symbols) > 600
    for contract, symbol in zip(state.market.contracts.values(), symbols, strict=True):
        check_rules(symbol, reference_price(contract, prices))


def test_rules_follow_the_price() -> None:
    state = ServerState(ServerConfig(seed=3))
    symbols = {s["symbol"]: s for s in symbols_json(state.market)}
    btc, eth = symbols["BTCUSDT"], symbols["ETHUSDT"]
    # The exchange's own values for these two at similar prices.
    assert btc["filters"][0]["tickSize"] == "0.1" and btc["pricePrecision"] == 1
    assert eth["filters"][0]["tickSize"] == "0.01" and eth["quantityPrecision"] == 3
    assert btc["filters"][5]["notional"] == "100" and eth["filters"][5]["notional"] == "20"
    # A cross-quoted contract is priced in its quote asset: ETH in BTC is well below 1.
    ethbtc = symbols.get("ETHBTC")
    if ethbtc is not None:
        assert Decimal(ethbtc["filters"][0]["maxPrice"]) < 10


def test_synthetic_prices_are_stable_and_plausible() -> None:
    seen = {synthetic_price(name) for name in ("ABC", "ZEREBRO", "1000PEPE", "X")}
    assert all(Decimal("0.001") <= p < 1000 for p in seen) and len(seen) == 4
    assert synthetic_price("ZEREBRO") == synthetic_price("ZEREBRO")


def test_the_shape_is_the_exchanges(shared_data: Path) -> None:
    """Same keys and filter keys as an untrimmed real answer, same key types."""
    real = json.loads((shared_data / "exchange_info_full_sample.json").read_text())
    state = ServerState(ServerConfig(seed=3))
    ours = {s["symbol"]: s for s in symbols_json(state.market)}
    for sample in real["symbols"]:
        mine = ours.get(sample["symbol"]) or ours["BTCUSDT"]
        assert list(mine) == list(sample)
        for key, value in sample.items():
            assert type(mine[key]) is type(value), key
        real_filters = {f["filterType"]: set(f) for f in sample["filters"]}
        assert {f["filterType"]: set(f) for f in mine["filters"]} == real_filters


@pytest.fixture
async def replay_base(tmp_path: Path) -> AsyncIterator[tuple[str, ServerState]]:
    path = tmp_path / "rec.jsonl"
    write_recording(path)
    runner, port = await start_server(ServerConfig(from_file=path), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", server_state(runner.app)
    finally:
        await runner.cleanup()


async def test_replayed_symbols_carry_the_same_rules(
    replay_base: tuple[str, ServerState],
) -> None:
    base, state = replay_base
    async with aiohttp.ClientSession() as session, session.get(base + "/fapi/v1/exchangeInfo") as r:
        info = await r.json()
    assert [limit["rateLimitType"] for limit in info["rateLimits"]] == [
        "REQUEST_WEIGHT",
        "ORDERS",
        "ORDERS",
    ]
    prices = state.market.reference_prices()
    # The recording's first index fixes the rules of the assets it covers.
    assert prices["BTC"] > 1000
    contracts = state.market.contracts
    assert info["symbols"]
    for symbol in info["symbols"]:
        check_rules(symbol, reference_price(contracts[symbol["symbol"]], prices))


async def test_a_recorded_snapshot_lists_symbols_that_never_sent_an_event(
    tmp_path: Path,
) -> None:
    """`binmon record` keeps the live run's exchangeInfo; `serve --from` lists all of it."""
    path = tmp_path / "rec.jsonl"
    frames = write_recording(path)
    snapshot = snapshot_payload(
        [
            Contract("QUIETUSDT", "QUIETUSDT", "PERPETUAL", "TRADING", 4133404800000, 1, "UM"),
            Contract("QUIETUSD_PERP", "QUIETUSD", "PERPETUAL", "TRADING", 4133404800000, 1, "CM"),
        ]
    )
    line = b'{"recv_time":1699999999000,"stream":"binmon:exchangeInfo","data":%s}\n' % snapshot
    path.write_bytes(line + path.read_bytes())
    runner, port = await start_server(ServerConfig(from_file=path), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/fapi/v1/exchangeInfo") as r:
                symbols = {s["symbol"]: s for s in (await r.json())["symbols"]}
            url = base.replace("http", "ws") + "/market/stream?streams=!contractInfo"
            async with session.ws_connect(url) as ws:
                # The snapshot is binmon's note, not a frame: the first one is a real event.
                first = json.loads((await ws.receive(timeout=5)).data)
        state = server_state(runner.app)
    finally:
        await runner.cleanup()
    assert first["data"] == json.loads(next(d for s, d in frames if s == "!contractInfo"))
    quiet, coin = symbols["QUIETUSDT"], symbols["QUIETUSD_PERP"]
    assert (quiet["baseAsset"], quiet["quoteAsset"], quiet["marginAsset"]) == (
        "QUIET",
        "USDT",
        "USDT",
    )
    assert (coin["quoteAsset"], coin["marginAsset"]) == ("USD", "QUIET")
    prices = state.market.reference_prices()
    for symbol in (quiet, coin):
        check_rules(symbol, reference_price(state.market.contracts[symbol["symbol"]], prices))
