"""``binmon serve`` against a plain aiohttp client: a real server on 127.0.0.1, a free port."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from click.testing import CliRunner
from yarl import URL

from binmon.protocol import AssetIndex, ContractInfo, decode_bare, decode_message
from binmon.server import DEMO_API_KEY, DEMO_API_SECRET, Faults, ServerConfig
from binmon.server.app import ServerState, chaos_plan, server_state, start_server
from binmon.server.scenario import Scenario, encode
from binmon.server.sentlog import iter_lines, read_sent_log
from binmon.signing import sign
from tests.waiting import wait_until

ALL = "!assetIndex@arr/!contractInfo"
VECTOR_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
VECTOR_QUERY = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
VECTOR_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


class Servers:
    """Starts servers on free ports; fast by default (100 Hz, pings rare)."""

    def __init__(self) -> None:
        self.runners: dict[str, web.AppRunner] = {}

    async def __call__(self, **overrides: Any) -> str:
        settings: dict[str, Any] = {"rate": 100.0, "ping_interval": 60.0, "seed": 1}
        settings.update(overrides)
        runner, port = await start_server(ServerConfig(**settings), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        self.runners[base] = runner
        return base

    def state(self, base: str) -> ServerState:
        return server_state(self.runners[base].app)


Start = Servers


@pytest.fixture
async def serve() -> AsyncIterator[Servers]:
    servers = Servers()
    yield servers
    for runner in servers.runners.values():
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> aiohttp.WSMessage:
    return await ws.receive(timeout=timeout)


async def text(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> str:
    msg = await receive(ws, timeout)
    assert msg.type == WSMsgType.TEXT, msg
    assert isinstance(msg.data, str)
    return msg.data


async def reply(ws: aiohttp.ClientWebSocketResponse, request: Any) -> dict[str, Any]:
    """Send a control message and return its reply, skipping any data frames."""
    await ws.send_str(request if isinstance(request, str) else json.dumps(request))
    deadline = time.monotonic() + 2.0
    while True:
        obj = json.loads(await text(ws, max(0.01, deadline - time.monotonic())))
        if isinstance(obj, dict) and ("result" in obj or "code" in obj):
            return obj


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


# --- streams --------------------------------------------------------------------


async def test_combined_stream_carries_both_streams(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    base = await serve(rate=200)
    async with session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}")) as ws:
        seen: dict[str, int] = {}
        asset_times: list[int] = []
        while seen.get("!contractInfo", 0) < 3 or seen.get("!assetIndex@arr", 0) < 5:
            frame = decode_message(await text(ws))
            assert frame.malformed == 0 and frame.problem is None
            assert frame.stream is not None
            seen[frame.stream] = seen.get(frame.stream, 0) + 1
            if frame.stream == "!assetIndex@arr":
                assert 15 <= len(frame.events) <= 20
                assert all(isinstance(e, AssetIndex) for e in frame.events)
                asset_times.append(frame.events[0].event_time)
            else:
                (event,) = frame.events
                assert isinstance(event, ContractInfo)
                assert event.market in ("UM", "CM")
    assert set(seen) == {"!assetIndex@arr", "!contractInfo"}
    # Ticks are 5 ms apart at 200 Hz, in order.
    assert asset_times == sorted(asset_times)
    assert all(b - a >= 5 for a, b in itertools.pairwise(asset_times))


async def test_raw_paths_send_bare_payloads(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
        data = json.loads(await text(ws))
        assert isinstance(data, list) and data[0]["e"] == "assetIndexUpdate"
    async with session.ws_connect(ws_url(base, "/market/ws/btcusd@assetIndex")) as ws:
        raw = await text(ws)
        data = json.loads(raw)
        assert isinstance(data, dict) and data["s"] == "BTCUSD"
        frame = decode_bare(raw)
        assert frame.malformed == 0 and isinstance(frame.events[0], AssetIndex)


async def test_per_asset_streams_combined(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    url = ws_url(base, "/market/stream?streams=btcusd@assetIndex/usdtusd@assetIndex")
    async with session.ws_connect(url) as ws:
        streams = set()
        while streams != {"btcusd@assetIndex", "usdtusd@assetIndex"}:
            frame = decode_message(await text(ws))
            assert frame.malformed == 0
            assert frame.stream is not None
            streams.add(frame.stream)
            (event,) = frame.events
            assert isinstance(event, AssetIndex)
            assert event.symbol == frame.stream.split("@")[0].upper()


async def test_stream_names_are_case_sensitive(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    # As on the exchange: an upper-case name is acknowledged and never delivers.
    base = await serve(rate=200)
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        assert await reply(
            ws, {"method": "SUBSCRIBE", "params": ["BTCUSD@assetIndex"], "id": 1}
        ) == {
            "result": None,
            "id": 1,
        }
        with pytest.raises(asyncio.TimeoutError):
            await receive(ws, timeout=0.2)


# --- control messages --------------------------------------------------------------


async def test_subscribe_unsubscribe_list(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(rate=200)
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        assert await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
        sub = {"method": "SUBSCRIBE", "params": ["!contractInfo", "btcusd@assetIndex"], "id": 2}
        assert await reply(ws, sub) == {"result": None, "id": 2}
        listed = await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
        assert listed == {"result": ["!contractInfo", "btcusd@assetIndex"], "id": 3}
        # Data now flows, bare (raw path, combined off).
        while True:
            data = json.loads(await text(ws))
            if isinstance(data, dict) and data.get("e") == "assetIndexUpdate":
                assert data["s"] == "BTCUSD"
                break
        unsub = {"method": "UNSUBSCRIBE", "params": ["btcusd@assetIndex"], "id": 4}
        assert await reply(ws, unsub) == {"result": None, "id": 4}
        listed = await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 5})
        assert listed == {"result": ["!contractInfo"], "id": 5}


async def test_combined_url_lists_its_streams(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}")) as ws:
        listed = await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 7})
        assert listed == {"result": ["!assetIndex@arr", "!contractInfo"], "id": 7}
        assert await reply(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 8}) == {
            "result": True,
            "id": 8,
        }


async def test_disconnected_clients_leave_nothing_behind(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    base = await serve(rate=200)
    state = serve.state(base)
    for _ in range(3):
        async with session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}")) as ws:
            await text(ws)
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
        await text(ws)
    # Connections and subscriptions are released, so memory stays flat over days.
    await wait_until(lambda: not state.connections, timeout=2)
    assert not state.hub.wanted("!assetIndex@arr")
    assert not state.hub.wanted("!contractInfo")


async def test_set_property_combined(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(rate=200)
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
        get = {"method": "GET_PROPERTY", "params": ["combined"], "id": 1}
        assert await reply(ws, get) == {"result": False, "id": 1}
        set_true = {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2}
        assert await reply(ws, set_true) == {"result": None, "id": 2}
        assert await reply(ws, {**get, "id": 3}) == {"result": True, "id": 3}
        # From now on, data frames come in the envelope.
        frame = json.loads(await text(ws))
        assert frame["stream"] == "!assetIndex@arr" and isinstance(frame["data"], list)


BAD_ID = {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": "x" * 37}, BAD_ID),
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": -1}, BAD_ID),
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": 1.5}, BAD_ID),
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": True}, BAD_ID),
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": [1]}, BAD_ID),
        ({"method": "SUBSCRIBE", "params": ["!contractInfo"], "id": 2**64}, BAD_ID),
        (
            # serde_json's wording, with the position just past the method's value.
            '{"method": "SUBSCRIBEE", "params": [], "id": 5}',
            {
                "code": 2,
                "msg": "Invalid request: unknown variant `SUBSCRIBEE`, expected one of "
                "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
                " at line 1 column 23",
                "id": 5,
            },
        ),
        (
            # ... and just past the object's closing brace.
            '{"params": [], "id": 6}',
            {
                "code": 2,
                "msg": "Invalid request: missing field `method` at line 1 column 23",
                "id": 6,
            },
        ),
        (
            {"method": "GET_PROPERTY", "params": ["compressed"], "id": 7},
            {"code": 0, "msg": "Unknown property", "id": 7},
        ),
        (
            {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 8},
            {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 8},
        ),
        (
            {"method": "SET_PROPERTY", "params": ["combined"], "id": 9},
            {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 9},
        ),
        (
            {"method": "SET_PROPERTY", "params": ["combined", True, 1], "id": 10},
            {"code": 2, "msg": "Invalid request: too many parameters", "id": 10},
        ),
        (
            {"method": "GET_PROPERTY", "params": [1], "id": 11},
            {"code": 2, "msg": "Invalid request: property name must be a string", "id": 11},
        ),
        (
            {"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 12},
            {"code": 2, "msg": "Invalid request: too many parameters", "id": 12},
        ),
        (
            {"method": "SUBSCRIBE", "params": ["not a stream"], "id": 13},
            {"code": 2, "msg": "Invalid request: invalid stream", "id": 13},
        ),
    ],
)
async def test_control_errors(
    serve: Start, session: aiohttp.ClientSession, request_: Any, expected: dict[str, Any]
) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        assert await reply(ws, request_) == expected
        # An error never closes the connection.
        assert await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 99}) == {
            "result": [],
            "id": 99,
        }


@pytest.mark.parametrize(
    ("sent", "msg"),
    [
        ("", "EOF while parsing a value at line 1 column 0"),
        ("x", "expected value at line 1 column 1"),
        ("  nope", "expected ident at line 1 column 4"),
        ('{"method": "SUBSCRIBE", "params": [', "EOF while parsing a list at line 1 column 35"),
        ('{"method": "SUBSCRIBE",}', "trailing comma at line 1 column 24"),
        ('{"method" "SUBSCRIBE"}', "expected `:` at line 1 column 11"),
        ("{method: 1}", "key must be a string at line 1 column 2"),
        ('{"id": 1} 2', "trailing characters at line 1 column 11"),
        ('{"id": 1\n\n,,}', "key must be a string at line 3 column 2"),
        ('{"id": NaN}', "expected value at line 1 column 8"),
        ('{"id": 01}', "invalid number at line 1 column 9"),
        ('{"id": "\\q"}', "invalid escape at line 1 column 10"),
        (
            '{"params": ["a\tb"]}',
            "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 15",
        ),
    ],
)
async def test_invalid_json_is_worded_as_serde_json(
    serve: Start, session: aiohttp.ClientSession, sent: str, msg: str
) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        assert await reply(ws, sent) == {"code": 3, "msg": f"Invalid JSON: {msg}"}


@pytest.mark.parametrize("req_id", ["0b9a7f4e-3c1d-4f2a-9e8b-7d6c5b4a3f21", "", None, 0, 2**64 - 1])
async def test_request_ids_are_echoed_as_sent(
    serve: Start, session: aiohttp.ClientSession, req_id: Any
) -> None:
    """Integer, string (the official SDK sends UUIDs) and null ids all work."""
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusd@assetIndex"], "id": req_id}
        assert await reply(ws, sub) == {"result": None, "id": req_id}
        listing = await reply(ws, {"method": "LIST_SUBSCRIPTIONS", "id": req_id})
        assert listing == {"result": ["btcusd@assetIndex"], "id": req_id}
        bad = await reply(ws, {"method": "GET_PROPERTY", "params": ["x"], "id": req_id})
        assert bad == {"code": 0, "msg": "Unknown property", "id": req_id}
        frame = json.loads(await text(ws))
        assert frame["e"] == "assetIndexUpdate" and frame["s"] == "BTCUSD"


async def test_a_request_without_id_is_answered_with_a_null_one(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        assert await reply(ws, {"method": "LIST_SUBSCRIPTIONS"}) == {"result": [], "id": None}


async def test_more_than_ten_messages_per_second_closes_1008(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    base = await serve()
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        for n in range(10):
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
        for n in range(10):
            assert json.loads(await text(ws)) == {"result": [], "id": n}
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 10}))
        msg = await receive(ws)
        assert msg.type == WSMsgType.CLOSE
        assert ws.close_code == 1008


async def test_server_pings_with_payload(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(ping_interval=0.05)
    before = int(time.time() * 1000)
    async with session.ws_connect(ws_url(base, "/market/ws"), autoping=False) as ws:
        msg = await receive(ws)
        assert msg.type == WSMsgType.PING
        # The payload is the server time in ms.
        assert msg.data and before <= int(msg.data) <= int(time.time() * 1000)
        await ws.pong(msg.data)
        assert (await receive(ws)).type == WSMsgType.PING


async def test_no_pong_disconnects(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(ping_interval=0.03, pong_timeout=0.05)
    async with session.ws_connect(ws_url(base, "/market/ws"), autoping=False) as ws:
        types = []
        while True:
            msg = await receive(ws)
            types.append(msg.type)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        assert types.count(WSMsgType.PING) >= 2


async def test_connection_age_limit(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(max_connection_age=0.1)
    async with session.ws_connect(ws_url(base, "/market/ws")) as ws:
        msg = await receive(ws)
        assert msg.type == WSMsgType.CLOSE and ws.close_code == 1000


@pytest.mark.parametrize(
    "path",
    [
        f"/ws/{'!assetIndex@arr'}",
        f"/stream?streams={ALL}",
        "/ws",
        f"/public/stream?streams={ALL}",
    ],
)
async def test_legacy_paths_ack_then_stay_silent(
    serve: Start, session: aiohttp.ClientSession, path: str
) -> None:
    base = await serve(rate=200, ping_interval=60)
    async with session.ws_connect(ws_url(base, path)) as ws:
        sub = {"method": "SUBSCRIBE", "params": ["!assetIndex@arr", "!contractInfo"], "id": 1}
        assert json.loads(await _send_and_text(ws, sub)) == {"result": None, "id": 1}
        # 200 Hz on the routed path would have delivered ~60 frames by now.
        with pytest.raises(asyncio.TimeoutError):
            await receive(ws, timeout=0.3)
        listed = json.loads(await _send_and_text(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert "!assetIndex@arr" in listed["result"]


async def _send_and_text(ws: aiohttp.ClientWebSocketResponse, obj: Any) -> str:
    await ws.send_str(json.dumps(obj))
    return await text(ws)


# --- REST --------------------------------------------------------------------------


async def test_time_and_clock_offset(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(clock_offset_ms=-3_600_000)
    before = int(time.time() * 1000)
    async with session.get(base + "/fapi/v1/time") as r:
        assert r.status == 200
        server_time = (await r.json())["serverTime"]
    after = int(time.time() * 1000)
    assert before - 3_600_000 <= server_time <= after - 3_600_000


async def test_exchange_info(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    async with session.get(base + "/fapi/v1/exchangeInfo") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/json")
        info = await r.json()
    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    assert {"asset", "marginAvailable", "autoAssetExchange"} <= set(info["assets"][0])
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert 600 <= len(symbols) <= 700
    btc = symbols["BTCUSDT"]
    assert btc["pair"] == "BTCUSDT" and btc["contractType"] == "PERPETUAL"
    assert btc["deliveryDate"] == 4133404800000 and btc["status"] == "TRADING"
    assert (btc["baseAsset"], btc["quoteAsset"], btc["marginAsset"]) == ("BTC", "USDT", "USDT")
    assert btc["underlyingType"] == "COIN"
    statuses = {s["status"] for s in symbols.values()}
    assert {"TRADING", "SETTLING", "PENDING_TRADING"} <= statuses


async def test_exchange_info_reflects_current_state(
    serve: Start, session: aiohttp.ClientSession
) -> None:
    base = await serve(rate=500)
    async with session.ws_connect(ws_url(base, "/market/ws/!contractInfo")) as ws:
        while True:
            event = json.loads(await text(ws))
            if event["cs"] == "PENDING_TRADING" and event["ot"] > event["E"]:
                break
    async with session.get(base + "/fapi/v1/exchangeInfo") as r:
        symbols = {s["symbol"]: s for s in (await r.json())["symbols"]}
    listed = symbols[event["s"]]
    assert listed["onboardDate"] == event["ot"]
    assert listed["status"] in ("PENDING_TRADING", "TRADING")


async def test_asset_index_rest(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    keys = {
        "symbol",
        "time",
        "index",
        "bidBuffer",
        "askBuffer",
        "bidRate",
        "askRate",
        "autoExchangeBidBuffer",
        "autoExchangeAskBuffer",
        "autoExchangeBidRate",
        "autoExchangeAskRate",
    }
    async with session.get(base + "/fapi/v1/assetIndex") as r:
        entries = await r.json()
    assert 15 <= len(entries) <= 20
    assert all(set(e) == keys for e in entries)
    assert all(isinstance(e[k], str) for e in entries for k in keys - {"symbol", "time"})
    async with session.get(base + "/fapi/v1/assetIndex", params={"symbol": "BTCUSD"}) as r:
        one = await r.json()
    assert isinstance(one, dict) and one["symbol"] == "BTCUSD" and set(one) == keys
    async with session.get(base + "/fapi/v1/assetIndex", params={"symbol": "NOPEUSD"}) as r:
        assert r.status == 400
        assert await r.json() == {"code": -1121, "msg": "Invalid symbol."}


def signed_url(
    base: str, params: str, secret: str = DEMO_API_SECRET, path: str = "/fapi/v1/leverageBracket"
) -> URL:
    query = (
        f"{params}&timestamp={int(time.time() * 1000)}"
        if params
        else f"timestamp={int(time.time() * 1000)}"
    )
    # encoded=True: the signature covers exactly these bytes.
    return URL(f"{base}{path}?{query}&signature={sign(query, secret)}", encoded=True)


KEY = {"X-MBX-APIKEY": DEMO_API_KEY}


async def test_leverage_brackets_signed(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    async with session.get(signed_url(base, ""), headers=KEY) as r:
        assert r.status == 200
        every = await r.json()
    assert isinstance(every, list) and len(every) > 600
    async with session.get(signed_url(base, "symbol=BTCUSDT&recvWindow=10000"), headers=KEY) as r:
        assert r.status == 200
        raw = await r.read()
        one = json.loads(raw)
    assert isinstance(one, dict) and one["symbol"] == "BTCUSDT"
    brackets = one["brackets"]
    assert set(brackets[0]) == {
        "bracket",
        "initialLeverage",
        "notionalCap",
        "notionalFloor",
        "maintMarginRatio",
        "cum",
    }
    assert brackets[0]["notionalFloor"] == 0 and brackets[0]["cum"] == 0
    for prev, cur in itertools.pairwise(brackets):
        assert cur["notionalFloor"] == prev["notionalCap"]
        assert cur["initialLeverage"] < prev["initialLeverage"]
    # One symbol alone: a whole cum is an integer ("cum":0, the official SDK's
    # model wants one); exact decimals elsewhere.
    assert b'"cum":0}' in raw and b'"maintMarginRatio":0.004' in raw
    assert all(isinstance(b["cum"], int) for b in brackets if b["cum"] == int(b["cum"]))
    async with session.get(signed_url(base, ""), headers=KEY) as r:
        # The list writes cum as the exchange's double ("cum":0.0).
        assert b'"cum":0.0' in await r.read()


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({}, 401, {"code": -2014, "msg": "API-key format invalid."}),
        ({"X-MBX-APIKEY": "not a key!"}, 401, {"code": -2014, "msg": "API-key format invalid."}),
        (
            {"X-MBX-APIKEY": "x" * 64},
            401,
            {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
        ),
    ],
)
async def test_leverage_brackets_bad_key(
    serve: Start, session: aiohttp.ClientSession, headers: dict[str, str], status: int, body: Any
) -> None:
    base = await serve()
    async with session.get(signed_url(base, "symbol=BTCUSDT"), headers=headers) as r:
        assert r.status == status
        assert await r.json() == body


async def test_leverage_brackets_errors(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve()
    bad_sig = {"code": -1022, "msg": "Signature for this request is not valid."}
    async with session.get(signed_url(base, "symbol=BTCUSDT", secret="wrong"), headers=KEY) as r:
        assert (r.status, await r.json()) == (400, bad_sig)
    # Tampering with the signed text after signing.
    url = str(signed_url(base, "symbol=BTCUSDT")).replace("BTCUSDT", "ETHUSDT")
    async with session.get(URL(url, encoded=True), headers=KEY) as r:
        assert (r.status, await r.json()) == (400, bad_sig)

    stale = int(time.time() * 1000) - 6000
    query = f"symbol=BTCUSDT&timestamp={stale}"
    url = URL(
        f"{base}/fapi/v1/leverageBracket?{query}&signature={sign(query, DEMO_API_SECRET)}",
        encoded=True,
    )
    async with session.get(url, headers=KEY) as r:
        assert r.status == 400
        assert await r.json() == {
            "code": -1021,
            "msg": "Timestamp for this request is outside of the recvWindow.",
        }
    # The same age is fine with a larger recvWindow.
    query = f"symbol=BTCUSDT&recvWindow=20000&timestamp={stale}"
    url = URL(
        f"{base}/fapi/v1/leverageBracket?{query}&signature={sign(query, DEMO_API_SECRET)}",
        encoded=True,
    )
    async with session.get(url, headers=KEY) as r:
        assert r.status == 200

    ahead = int(time.time() * 1000) + 5000
    query = f"timestamp={ahead}"
    url = URL(
        f"{base}/fapi/v1/leverageBracket?{query}&signature={sign(query, DEMO_API_SECRET)}",
        encoded=True,
    )
    async with session.get(url, headers=KEY) as r:
        assert (await r.json())["code"] == -1021

    async with session.get(signed_url(base, "symbol=BTCUSDT&recvWindow=70000"), headers=KEY) as r:
        assert (r.status, (await r.json())["code"]) == (400, -1131)
    async with session.get(signed_url(base, "symbol=NOPEUSDT"), headers=KEY) as r:
        assert (r.status, await r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
    async with session.get(base + "/fapi/v1/leverageBracket?symbol=BTCUSDT", headers=KEY) as r:
        assert (r.status, (await r.json())["code"]) == (400, -1102)


async def test_official_signature_vector(serve: Start, session: aiohttp.ClientSession) -> None:
    assert sign(VECTOR_QUERY, VECTOR_SECRET) == VECTOR_SIGNATURE
    # A server whose clock reads the vector's timestamp accepts the vector as is.
    offset = 1591702613943 - int(time.time() * 1000) + 1000
    base = await serve(api_secret=VECTOR_SECRET, clock_offset_ms=offset)
    url = URL(
        f"{base}/fapi/v1/leverageBracket?{VECTOR_QUERY}&signature={VECTOR_SIGNATURE}", encoded=True
    )
    async with session.get(url, headers=KEY) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["symbol"] == "BTCUSDT"
    wrong = URL(str(url)[:-1] + "0", encoded=True)
    async with session.get(wrong, headers=KEY) as r:
        assert (await r.json())["code"] == -1022


# --- faults ------------------------------------------------------------------------


async def test_drop_every(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(faults=Faults(drop_every=5))
    for _ in range(2):  # every connection, not just the first
        async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
            for _ in range(5):
                await text(ws)
            msg = await receive(ws)
            assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
            # No close frame: abnormal closure.
            assert ws.close_code == 1006


async def test_close_code(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(faults=Faults(drop_every=3, close_code=4001))
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
        for _ in range(3):
            await text(ws)
        msg = await receive(ws)
        assert msg.type == WSMsgType.CLOSE and ws.close_code == 4001


async def test_silent_after(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(rate=200, faults=Faults(silent_after=3))
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr"), autoping=False) as ws:
        for _ in range(3):
            await text(ws)
        await ws.ping(b"still there?")
        msg = await receive(ws)
        assert (msg.type, msg.data) == (WSMsgType.PONG, b"still there?")
        with pytest.raises(asyncio.TimeoutError):
            await receive(ws, timeout=0.2)
        assert not ws.closed


@pytest.mark.parametrize("path", [f"/market/stream?streams={ALL}", "/market/ws/!assetIndex@arr"])
async def test_garbage_every(serve: Start, session: aiohttp.ClientSession, path: str) -> None:
    base = await serve(rate=200, faults=Faults(garbage_every=2))
    decode = decode_message if "stream" in path else decode_bare
    valid = malformed = 0
    asset_times: list[int] = []
    problems = set()
    async with session.ws_connect(ws_url(base, path)) as ws:
        for n in range(1, 31):
            frame = decode(await text(ws))
            if n % 3 == 0:
                # Every third message is the injected one, after two good frames.
                assert frame.malformed == 1 and not frame.events, frame
                problems.add(frame.problem)
                malformed += 1
            else:
                assert frame.malformed == 0 and frame.events
                valid += 1
                if isinstance(frame.events[0], AssetIndex):
                    asset_times.append(frame.events[0].event_time)
    assert (valid, malformed) == (20, 10)
    assert len(problems) >= 2  # not always the same kind of bad
    # Valid frames all arrive, in order.
    assert asset_times and asset_times == sorted(asset_times)


async def test_refuse_status(serve: Start, session: aiohttp.ClientSession) -> None:
    base = await serve(faults=Faults(refuse_status=451))
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}"))
    assert info.value.status == 451
    # REST is not affected.
    async with session.get(base + "/fapi/v1/time") as r:
        assert r.status == 200


def test_faults_validate() -> None:
    with pytest.raises(ValueError):
        Faults(drop_every=0)
    with pytest.raises(ValueError):
        Faults(close_code=999)
    assert Faults(drop_every=3, close_code=4000).describe() == [
        "close with code 4000 after every 3 data frames"
    ]
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError):
            Faults(chaos=bad)
    (line,) = Faults(chaos=2.5).describe()
    assert "every 2.5s" in line and "1000/1001/1011" in line and "silent" in line
    assert Faults(chaos=2.5).any


# --- the sent log and chaos --------------------------------------------------------


def frame_keys_seen(raw: str) -> list[tuple[str, int]]:
    """The (symbol, E) keys of a combined-stream data frame, as a client sees them."""
    data = json.loads(raw)["data"]
    return [(e["s"], e["E"]) for e in (data if isinstance(data, list) else [data])]


async def test_sent_log_holds_exactly_the_data_frames_sent(
    serve: Start, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    log = tmp_path / "sent.jsonl"
    # Garbage and control replies are written to the client but are not data;
    # the close frame after 6 data frames makes the client's view complete.
    faults = Faults(drop_every=6, close_code=4001, garbage_every=2)
    base = await serve(rate=200, faults=faults, sent_log=log)
    got: list[tuple[str, int]] = []
    streams: list[str] = []
    async with session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}")) as ws:
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        replies = 0
        while True:
            msg = await receive(ws)
            if msg.type != WSMsgType.TEXT:
                break
            try:
                obj = json.loads(msg.data)
            except ValueError:
                continue  # garbage: half a frame
            if isinstance(obj, dict) and "result" in obj:
                replies += 1
                continue
            frame = decode_message(msg.data)
            if frame.malformed:
                continue
            assert frame.stream is not None
            streams.append(frame.stream)
            got += frame_keys_seen(msg.data)
        assert ws.close_code == 4001
    assert replies == 1 and len(streams) == 6
    # Flushed when the server stops.
    await serve.runners[base].cleanup()
    record = read_sent_log(log)
    assert record.bad_lines == 0
    assert record.frames == 6
    assert record.keys(1) == got
    assert [line.s for line in iter_lines(log) if line and line.s] == streams
    (conn,) = record.connections.values()
    assert conn.id == 1 and conn.path == f"/market/stream?streams={ALL}"
    assert [what for _, what in conn.faults] == ["close 4001"]
    assert conn.frames == 6
    # Appended, never truncated: a second run adds to it.
    base = await serve(rate=200, faults=faults, sent_log=log)
    async with session.ws_connect(ws_url(base, "/market/ws/!assetIndex@arr")) as ws:
        while (await receive(ws)).type == WSMsgType.TEXT:
            pass
    await serve.runners[base].cleanup()
    again = read_sent_log(log)
    # Ids restart with each server.
    assert again.frames == 12 and [c.frames for c in again.connections.values()] == [6]


async def test_chaos_every_connection_meets_one_fault_and_the_log_agrees(
    serve: Start, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    seed, mean = 3, 0.05
    plans = [chaos_plan(seed, n, mean) for n in range(1, 40)]
    # A dozen connections, and enough to meet every kind of fault (the plan is
    # seeded, not timed).
    count = next(
        n
        for n in range(12, len(plans) + 1)
        if {p.kind for p in plans[:n]} == {"drop", "close", "silent"}
    )
    log = tmp_path / "sent.jsonl"
    base = await serve(rate=200, seed=seed, faults=Faults(chaos=mean), sent_log=log)
    state = serve.state(base)
    url = ws_url(base, f"/market/stream?streams={ALL}")
    received: dict[int, tuple[int, list[tuple[str, int]]]] = {}
    for conn_id in range(1, count + 1):
        plan = plans[conn_id - 1]
        got: list[tuple[str, int]] = []
        frames = 0
        async with session.ws_connect(url, autoping=False) as ws:
            if plan.kind == "silent":
                await wait_until(
                    lambda i=conn_id: any(c.id == i and c.silent for c in state.connections),
                    timeout=10,
                )
                (conn,) = (c for c in state.connections if c.id == conn_id)
                # Everything sent before the silence arrives, and then nothing:
                # our ping is answered before any data frame the log does not have.
                await ws.ping(b"anyone?")
                while (msg := await receive(ws)).type == WSMsgType.TEXT:
                    got += frame_keys_seen(msg.data)
                    frames += 1
                    assert frames <= conn.sent
                assert (msg.type, msg.data) == (WSMsgType.PONG, b"anyone?")
                assert frames == conn.sent
            else:
                while True:
                    msg = await receive(ws, timeout=10)
                    if msg.type != WSMsgType.TEXT:
                        break
                    got += frame_keys_seen(msg.data)
                    frames += 1
                if plan.kind == "close":
                    assert msg.type == WSMsgType.CLOSE
                    assert ws.close_code == plan.code and plan.code in (1000, 1001, 1011)
                else:
                    # No close frame: abnormal closure, yet every frame written arrived.
                    assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
                    assert ws.close_code == 1006
        received[conn_id] = frames, got
    await wait_until(lambda: not state.connections, timeout=2)
    await serve.runners[base].cleanup()
    record = read_sent_log(log)
    assert record.bad_lines == 0
    assert sorted(record.connections) == list(range(1, count + 1))
    for conn_id, (frames, got) in received.items():
        conn = record.connections[conn_id]
        assert [what for _, what in conn.faults] == [plans[conn_id - 1].fault], conn_id
        # What the log says was sent is exactly what the client received.
        assert record.keys(conn_id) == got, conn_id
        assert conn.frames == frames, conn_id


def test_contract_event_times_only_go_forward_per_symbol() -> None:
    # A client keeps the newest event per symbol and drops what is not newer
    # (the exchange's resends): the scenario's only such events must be
    # those resends, byte for byte, or a soak would count rightful drops as losses.
    resends = 0
    # Seeds whose events went backwards within the first few thousand ticks
    # before event times were put in order.
    for seed in (2, 5):
        scenario = Scenario(seed, rate=100)
        newest: dict[str, int] = {}
        first: dict[tuple[str, int], bytes] = {}
        for tick in scenario.run(8_000):
            for event in tick.contracts:
                frame, key = encode(event), (event.s, event.E)
                if event.s in newest and key[1] <= newest[event.s]:
                    assert first.get(key) == frame, event
                    resends += 1
                first.setdefault(key, frame)
                newest[event.s] = max(newest.get(event.s, key[1]), key[1])
    assert resends > 0


def test_chaos_plan_is_seeded() -> None:
    plans = [chaos_plan(7, n, 3.0) for n in range(1, 301)]
    assert plans == [chaos_plan(7, n, 3.0) for n in range(1, 301)]
    assert plans != [chaos_plan(8, n, 3.0) for n in range(1, 301)]
    assert {p.kind for p in plans} == {"drop", "close", "silent"}
    assert {p.code for p in plans if p.kind == "close"} == {1000, 1001, 1011}
    assert all(p.code is None for p in plans if p.kind != "close")
    # Exponential with mean 3 s: a sample of 300 averages within a third of it.
    assert 2.0 < sum(p.delay for p in plans) / len(plans) < 4.0


# --- replay ------------------------------------------------------------------------


def write_recording(path: Path, ticks: int = 12) -> list[tuple[str, bytes]]:
    """A recording in `binmon record` format, generated (10 ms apart)."""
    scenario = Scenario(seed=4)
    frames: list[tuple[str, bytes]] = []
    lines = []
    t = 1_700_000_000_000
    for tick in scenario.run(ticks):
        payloads = [("!assetIndex@arr", encode(tick.assets))]
        payloads += [("!contractInfo", encode(c)) for c in tick.contracts]
        if not tick.contracts:
            # Make sure there is at least one contract frame per tick.
            contract = next(iter(scenario.contracts.values()))
            payloads.append(("!contractInfo", encode(contract.frame(tick.time_ms))))
        for stream, data in payloads:
            frames.append((stream, data))
            lines.append(b'{"recv_time":%d,"stream":"%s","data":%s}' % (t, stream.encode(), data))
            t += 5
    body = b"\n".join(lines) + b"\nnot a record line\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    return frames


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
async def test_replay(
    serve: Start, session: aiohttp.ClientSession, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    frames = write_recording(path)
    base = await serve(from_file=path, speed=1.0)
    url = ws_url(base, f"/market/stream?streams={ALL}/btcusd@assetIndex")
    async with session.ws_connect(url) as ws:
        got: list[tuple[str, bytes]] = []
        derived = 0
        while len(got) < len(frames):
            message = json.loads(await text(ws))
            data = json.dumps(message["data"], separators=(",", ":")).encode()
            if message["stream"] == "btcusd@assetIndex":
                # Derived from the recorded !assetIndex@arr frames.
                assert message["data"]["s"] == "BTCUSD"
                derived += 1
                continue
            got.append((message["stream"], data))
    # Every recorded frame, in order, with the data exactly as recorded.
    assert got == frames
    assert derived >= 1
    async with session.get(base + "/fapi/v1/exchangeInfo") as r:
        symbols = {s["symbol"] for s in (await r.json())["symbols"]}
    contract_symbols = {json.loads(d)["s"] for s, d in frames if s == "!contractInfo"}
    assert contract_symbols <= symbols
    async with session.get(base + "/fapi/v1/assetIndex?symbol=BTCUSD") as r:
        assert r.status == 200


async def test_replay_timing_follows_speed(
    serve: Start, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "rec.jsonl"
    frames = write_recording(path, ticks=4)  # about 40 ms recorded
    base = await serve(from_file=path, speed=0.25)  # about 160 ms replayed
    async with session.ws_connect(ws_url(base, f"/market/stream?streams={ALL}")) as ws:
        await text(ws)
        started = time.monotonic()
        for _ in range(len(frames) - 1):
            await text(ws)
        elapsed = time.monotonic() - started
    recorded = (len(frames) - 1) * 5 / 1000
    assert elapsed >= recorded / 0.25 * 0.8


# --- the command -------------------------------------------------------------------


def test_help_has_examples() -> None:
    from binmon.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--drop-every" in result.output


def test_close_code_needs_drop_every() -> None:
    from binmon.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--close-code", "4000"])
    assert result.exit_code == 2


@pytest.mark.parametrize("args", [["--chaos", "0"], ["--chaos", "-1"], ["--log", "."]])
def test_chaos_and_log_are_validated(args: list[str]) -> None:
    from binmon.cli import cli

    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2


def test_help_lists_chaos_and_log() -> None:
    from binmon.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--chaos SECONDS" in result.output and "--log FILE" in result.output


async def test_command_writes_its_log_by_sigterm(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    log = tmp_path / "sent.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "binmon", "serve", "--port", "0", "--rate", "100", "--log", str(log)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Log of frames sent:"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "server exited early"
            lines.append(line.strip())
        assert lines[-1] == f"Log of frames sent: {log}"
        match = re.search(r"WebSocket: (ws://\S+)", "\n".join(lines))
        assert match is not None
        got: list[tuple[str, int]] = []
        async with session.ws_connect(match.group(1)) as ws:
            while len(got) < 200:
                got += frame_keys_seen(await text(ws))
            proc.send_signal(signal.SIGTERM)
            # Shutting down closes with 1001, after every frame it logged.
            while (msg := await receive(ws, timeout=20)).type == WSMsgType.TEXT:
                got += frame_keys_seen(msg.data)
            assert msg.type == WSMsgType.CLOSE and ws.close_code == 1001
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0 and b"Traceback" not in err
    record = read_sent_log(log)
    assert record.keys(1) == got
    assert record.connections[1].frames == record.frames


def test_command_runs_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "binmon", "serve", "--port", "0", "--rate", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("API secret:"):
            line = proc.stdout.readline().decode()
            assert line, "server exited early"
            lines.append(line.strip())
        port = int(re.search(r":(\d+) ", lines[0]).group(1))  # type: ignore[union-attr]
        assert f"API key: {DEMO_API_KEY}" in lines
        assert f"API secret: {DEMO_API_SECRET}" in lines
        assert "serverTime" in json.loads(http_get(f"http://127.0.0.1:{port}/fapi/v1/time"))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert b"Traceback" not in err


def http_get(url: str) -> str:
    # The test above is synchronous: it drives a real process.
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()
