"""A scripted stand-in for the exchange: a real aiohttp server on 127.0.0.1.

It runs on its own thread and event loop so that synchronous tests (click's
CliRunner, subprocesses) and async tests can all talk to it. Each WebSocket
connection is handed to ``script(ws, request, n)``, ``n`` counting from 1.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

Script = Callable[[web.WebSocketResponse, web.Request, int], Awaitable[None]]

ASSET = {
    "e": "assetIndexUpdate",
    "i": "0.27462452",
    "b": "0.10000000",
    "a": "0.10000000",
    "B": "0.24716207",
    "A": "0.30208698",
    "q": "0.05000000",
    "g": "0.05000000",
    "Q": "0.26089330",
    "G": "0.28835575",
}


def asset_frame(event_time: int, symbols: tuple[str, ...] = ("ADAUSD", "BTCUSD")) -> str:
    data = [dict(ASSET, E=event_time, s=s) for s in symbols]
    return json.dumps({"stream": "!assetIndex@arr", "data": data}, separators=(",", ":"))


def contract_frame(event_time: int, symbol: str, status: str = "TRADING", **extra: Any) -> str:
    data = {
        "e": "contractInfo",
        "E": event_time,
        "s": symbol,
        "ps": symbol,
        "ct": "PERPETUAL",
        "dt": 4133404800000,
        "ot": 1569398400000,
        "cs": status,
        "bks": [],
        **extra,
    }
    return json.dumps({"stream": "!contractInfo", "data": data}, separators=(",", ":"))


def symbol_info(symbol: str, status: str = "TRADING") -> dict[str, Any]:
    """One perpetual as ``GET /fapi/v1/exchangeInfo`` lists it."""
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": status,
    }


async def hold(ws: web.WebSocketResponse) -> None:
    """Keep the connection open, answering pings, until the client leaves."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            request = json.loads(msg.data)
            if isinstance(request, dict) and "id" in request:
                await ws.send_str(json.dumps({"result": None, "id": request["id"]}))


class FakeExchange:
    def __init__(self) -> None:
        self.script: Script | None = None
        self.upgrade_status: int | None = None
        self.upgrade_headers: dict[str, str] = {}
        # False: pings from the client reach the script unanswered.
        self.autoping = True
        self.upgrade_times: list[float] = []
        # Awaited before each upgrade is answered, with the attempt's number (from 1).
        self.before_upgrade: Callable[[int], Awaitable[None]] | None = None
        self.exchange_info_requests = 0
        # A str is sent as it is (a broken answer), anything else as JSON.
        self.exchange_info: Any = {"symbols": []}
        self.asset_index: list[dict[str, Any]] = []
        # Answers exchangeInfo gives first, one each, before the real one.
        self.rest_failures: list[tuple[int, dict[str, str]]] = []
        self.connections = 0
        self.paths: list[str] = []
        self.open_sockets = 0
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- server -------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path_qs)
        self.upgrade_times.append(time.monotonic())
        if self.before_upgrade is not None:
            await self.before_upgrade(len(self.upgrade_times))
        if self.upgrade_status is not None:
            return web.Response(
                status=self.upgrade_status, text="refused", headers=self.upgrade_headers
            )
        ws = web.WebSocketResponse(autoping=self.autoping)
        await ws.prepare(request)
        self.connections += 1
        self.open_sockets += 1
        try:
            if self.script is not None:
                await self.script(ws, request, self.connections)
            else:
                await hold(ws)
        finally:
            self.open_sockets -= 1
        return ws

    async def _exchange_info(self, request: web.Request) -> web.Response:
        self.exchange_info_requests += 1
        if self.rest_failures:
            status, headers = self.rest_failures.pop(0)
            return web.json_response(
                {"code": -1003, "msg": "Too many requests"}, status=status, headers=headers
            )
        if isinstance(self.exchange_info, str):
            return web.Response(text=self.exchange_info, content_type="application/json")
        return web.json_response(self.exchange_info)

    async def _asset_index(self, request: web.Request) -> web.Response:
        return web.json_response(self.asset_index)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/market/stream", self._ws)
        app.router.add_get("/stream", self._ws)  # the retired legacy path
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        app.router.add_get("/fapi/v1/assetIndex", self._asset_index)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> FakeExchange:
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start())
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return ["--ws-url", self.ws_url, "--rest-url", self.rest_url]
