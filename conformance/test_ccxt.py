"""ccxt's ``binanceusdm`` against serve: markets with precision and limits, leverage tiers.

Pointed at serve as ccxt's manual says to override an exchange's endpoints:
the ``urls.api`` entries in the constructor's config (the ``fapi*`` ones; the
others are never called here). ``options.fetchCurrencies`` is off: with
credentials ccxt would load currencies from ``/sapi/v1/capital/config/getall``,
a wallet endpoint outside what serve claims.
"""

from __future__ import annotations

import itertools
from typing import Any

import ccxt
import pytest

from conformance.conftest import Serve


def usdm(serve: Serve, secret: str | None = None) -> Any:
    fapi = serve.http + "/fapi"
    return ccxt.binanceusdm(
        {
            "apiKey": serve.api_key,
            "secret": secret if secret is not None else serve.api_secret,
            "options": {"fetchCurrencies": False},
            "urls": {
                "api": {
                    "fapiPublic": fapi + "/v1",
                    "fapiPublicV2": fapi + "/v2",
                    "fapiPublicV3": fapi + "/v3",
                    "fapiPrivate": fapi + "/v1",
                    "fapiPrivateV2": fapi + "/v2",
                    "fapiPrivateV3": fapi + "/v3",
                }
            },
        }
    )


@pytest.fixture(scope="module")
def exchange(serve: Serve) -> Any:
    return usdm(serve)


def test_fetch_markets_have_precision_and_limits(exchange: Any) -> None:
    markets = exchange.fetch_markets()
    assert len(markets) > 600
    for market in markets:
        precision, limits = market["precision"], market["limits"]
        assert precision["price"] is not None and precision["amount"] is not None, market["id"]
        assert limits["amount"]["min"] is not None and limits["amount"]["max"] is not None
        assert limits["price"]["min"] is not None and limits["price"]["max"] is not None
        assert limits["cost"]["min"] is not None
    btc = next(m for m in markets if m["id"] == "BTCUSDT")
    assert btc["symbol"] == "BTC/USDT:USDT" and btc["linear"] and btc["swap"]
    assert btc["precision"]["price"] == 0.1 and btc["limits"]["cost"]["min"] == 100


def test_fetch_leverage_tiers_all_and_one(exchange: Any) -> None:
    every = exchange.fetch_leverage_tiers()
    assert len(every) > 600
    tiers = exchange.fetch_market_leverage_tiers("BTC/USDT:USDT")
    assert tiers[0]["minNotional"] == 0 and tiers[0]["maxLeverage"] >= 20
    for lower, upper in itertools.pairwise(tiers):
        assert upper["minNotional"] == lower["maxNotional"]
        assert upper["maintenanceMarginRate"] > lower["maintenanceMarginRate"]


def test_a_bad_signature_is_an_authentication_error(serve: Serve) -> None:
    exchange = usdm(serve, secret="not-the-demo-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_leverage_tiers()
