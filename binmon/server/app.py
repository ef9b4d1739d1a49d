"""The aiohttp application behind ``binmon serve``: routes, lifecycle, start.

Faithful where clients get it wrong: routed ``/market`` paths versus the
legacy ``/ws``/``/stream`` paths (:mod:`~binmon.server.websocket`), control
messages with the exchange's exact replies and error codes
(:mod:`~binmon.server.control`), the 10 messages/second limit, pings with a
payload (:mod:`~binmon.server.connection`), signed REST with the exchange's
error codes (:mod:`~binmon.server.signed`, :mod:`~binmon.server.rest`). Each
frame is encoded once per tick and the same bytes go to every subscriber
(:mod:`~binmon.server.hub`); data comes from :mod:`~binmon.server.markets`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from binmon.errors import BinmonError
from binmon.server import ServerConfig
from binmon.server.connection import ChaosPlan, Connection, chaos_plan
from binmon.server.control import handle_control
from binmon.server.hub import Hub
from binmon.server.rest import (
    account_handler,
    asset_index_handler,
    exchange_info_handler,
    leverage_bracket_handler,
    time_handler,
)
from binmon.server.sentlog import SentLog
from binmon.server.state import STATE_KEY, ServerState
from binmon.server.websocket import ws_handler


async def _sent_log_file(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE_KEY]
    path = state.config.sent_log
    if path is None:
        yield
        return
    try:
        state.sent_log = SentLog(path)
    except OSError as exc:
        raise BinmonError(f"cannot write the log {path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        log, state.sent_log = state.sent_log, None
        log.close()


async def _market_task(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE_KEY]
    task = asyncio.create_task(state.market.run(state))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_connections(app: web.Application) -> None:
    state = app[STATE_KEY]

    async def close(conn: Connection) -> None:
        conn.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutting down"), 1.0)

    await asyncio.gather(*(close(c) for c in list(state.connections)))


def make_app(config: ServerConfig | None = None) -> web.Application:
    """The whole server as an aiohttp application (in-process use, tests, ``binmon demo``)."""
    config = config or ServerConfig()
    app = web.Application()
    app[STATE_KEY] = ServerState(config)
    for prefix in ("/market", "/public", "/private", ""):
        # Only /market is routed for these streams; the rest acknowledge and stay silent.
        app.router.add_get(prefix + "/ws", ws_handler)
        app.router.add_get(prefix + "/ws/{tail:.*}", ws_handler)
        app.router.add_get(prefix + "/stream", ws_handler)
    app.router.add_get("/fapi/v1/time", time_handler)
    app.router.add_get("/fapi/v1/exchangeInfo", exchange_info_handler)
    app.router.add_get("/fapi/v1/assetIndex", asset_index_handler)
    app.router.add_get("/fapi/v1/leverageBracket", leverage_bracket_handler)
    app.router.add_get("/fapi/v3/account", account_handler)
    # Opened first, closed last: every frame the market produced is in it.
    app.cleanup_ctx.append(_sent_log_file)
    app.cleanup_ctx.append(_market_task)
    app.on_shutdown.append(_close_connections)
    return app


async def start_server(
    config: ServerConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner and the real port (``port=0`` picks a free one).

    Stop it with ``await runner.cleanup()``.
    """
    runner = web.AppRunner(make_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    actual = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            actual = int(address[1])
            break
    return runner, actual


def server_state(app: web.Application) -> ServerState:
    return app[STATE_KEY]


# Also importable from here, where they lived before the split.
__all__ = [
    "ChaosPlan",
    "Connection",
    "Hub",
    "ServerState",
    "chaos_plan",
    "handle_control",
    "make_app",
    "server_state",
    "start_server",
]
