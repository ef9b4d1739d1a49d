"""The ``websockets`` library against serve: every control message and error, the limits.

What a hand-written client meets: each control message of the exchange's
docs with its exact reply, each documented error (codes 0 to 3), the
10 incoming messages per second limit (close 1008), the 1024 streams per
connection limit, and the raw (``/market/ws/<stream>``) and combined
(``/market/stream?streams=``) paths, plus the retired unrouted path that
acknowledges and then stays silent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conformance.conftest import Serve

TIMEOUT = 5.0


@pytest.fixture
async def market(serve: Serve) -> AsyncIterator[ClientConnection]:
    async with connect(serve.ws + "/market/ws") as ws:
        yield ws


async def ask(ws: ClientConnection, request: Any) -> dict[str, Any]:
    """Send one control message; its reply (data frames in between are skipped)."""
    await ws.send(request if isinstance(request, str) else json.dumps(request))
    async with asyncio.timeout(TIMEOUT):
        while True:
            reply = json.loads(await ws.recv())
            if isinstance(reply, dict) and ("result" in reply or "code" in reply):
                return reply


async def data_frame(ws: ClientConnection) -> Any:
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = json.loads(await ws.recv())
            if not (isinstance(frame, dict) and ("result" in frame or "code" in frame)):
                return frame


async def test_the_documented_control_messages(market: ClientConnection) -> None:
    subscribe = {"method": "SUBSCRIBE", "params": ["btcusd@assetIndex"], "id": 1}
    assert await ask(market, subscribe) == {"result": None, "id": 1}
    frame = await data_frame(market)
    assert frame["e"] == "assetIndexUpdate" and frame["s"] == "BTCUSD"
    listing = await ask(market, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
    assert listing == {"result": ["btcusd@assetIndex"], "id": 3}
    combined = {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}
    assert await ask(market, combined) == {"result": None, "id": 5}
    assert await ask(market, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}) == {
        "result": True,
        "id": 2,
    }
    enveloped = await data_frame(market)
    assert enveloped["stream"] == "btcusd@assetIndex" and enveloped["data"]["s"] == "BTCUSD"
    unsubscribe = {"method": "UNSUBSCRIBE", "params": ["btcusd@assetIndex"], "id": 312}
    assert await ask(market, unsubscribe) == {"result": None, "id": 312}
    assert await ask(market, {"method": "LIST_SUBSCRIPTIONS", "id": 4}) == {"result": [], "id": 4}


UNKNOWN = (
    "Invalid request: unknown variant `SUBSCRIBEE`, expected one of `SUBSCRIBE`, "
    "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 23"
)


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        (
            '{"method": "GET_PROPERTY", "params": ["compress"], "id": 7}',
            {"code": 0, "msg": "Unknown property", "id": 7},
        ),
        (
            '{"method": "SET_PROPERTY", "params": ["combined", "true"], "id": 8}',
            {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 8},
        ),
        (
            '{"method": "SUBSCRIBE", "params": ["btcusd@assetIndex"], "id": -4}',
            {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
        ),
        ('{"method": "SUBSCRIBEE", "params": [], "id": 9}', {"code": 2, "msg": UNKNOWN, "id": 9}),
        (
            '{"params": ["btcusd@assetIndex"], "id": 10}',
            {
                "code": 2,
                "msg": "Invalid request: missing field `method` at line 1 column 43",
                "id": 10,
            },
        ),
        (
            '{"method": "GET_PROPERTY", "params": ["combined", true], "id": 11}',
            {"code": 2, "msg": "Invalid request: too many parameters", "id": 11},
        ),
        (
            '{"method": "SET_PROPERTY", "params": [true], "id": 12}',
            {"code": 2, "msg": "Invalid request: property name must be a string", "id": 12},
        ),
        ("", {"code": 3, "msg": "Invalid JSON: EOF while parsing a value at line 1 column 0"}),
        ("hello", {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}),
        (
            '{"method": "SUBSCRIBE", "params": ["a", ]}',
            {"code": 3, "msg": "Invalid JSON: trailing comma at line 1 column 41"},
        ),
    ],
)
async def test_the_documented_errors(
    market: ClientConnection, sent: str, reply: dict[str, Any]
) -> None:
    assert await ask(market, sent) == reply
    # An error leaves the connection open and usable.
    assert await ask(market, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}


@pytest.mark.parametrize("req_id", ["6f1c2a8e-52a4-4b0e-9a51-0f7c3e2d9b11", None, 2**64 - 1])
async def test_ids_are_echoed_as_sent(market: ClientConnection, req_id: Any) -> None:
    assert await ask(market, {"method": "LIST_SUBSCRIPTIONS", "id": req_id}) == {
        "result": [],
        "id": req_id,
    }


async def test_more_than_ten_messages_a_second_closes_1008(market: ClientConnection) -> None:
    for n in range(11):
        await market.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await market.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_at_most_1024_streams(market: ClientConnection) -> None:
    streams = [f"asset{n}@assetIndex" for n in range(1024)]
    assert await ask(market, {"method": "SUBSCRIBE", "params": streams, "id": 1}) == {
        "result": None,
        "id": 1,
    }
    over = {"method": "SUBSCRIBE", "params": ["btcusd@assetIndex"], "id": 2}
    assert await ask(market, over) == {
        "code": 2,
        "msg": "Invalid request: too many streams",
        "id": 2,
    }
    listing = await ask(market, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
    assert len(listing["result"]) == 1024


async def test_raw_path(serve: Serve) -> None:
    async with connect(serve.ws + "/market/ws/!assetIndex@arr") as ws:
        frame = await data_frame(ws)
    assert isinstance(frame, list) and {e["e"] for e in frame} == {"assetIndexUpdate"}


async def test_combined_path(serve: Serve) -> None:
    wanted = {"!assetIndex@arr", "!contractInfo", "ethusd@assetIndex"}
    async with connect(serve.ws + "/market/stream?streams=" + "/".join(sorted(wanted))) as ws:
        seen: set[str] = set()
        while seen != wanted:
            frame = await data_frame(ws)
            assert set(frame) == {"stream", "data"}
            seen.add(frame["stream"])


async def test_the_retired_path_acknowledges_then_stays_silent(serve: Serve) -> None:
    async with connect(serve.ws + "/ws") as ws:
        subscribe = {"method": "SUBSCRIBE", "params": ["!assetIndex@arr"], "id": 1}
        assert await ask(ws, subscribe) == {"result": None, "id": 1}
        with pytest.raises(TimeoutError):
            # Serve runs at 20 frames/s: a second without one is silence.
            async with asyncio.timeout(1.0):
                await ws.recv()
