"""The WebSocket endpoint: routed ``/market`` paths versus the legacy ones.

The legacy ``/ws`` and ``/stream`` paths (also under ``/public`` and
``/private``) acknowledge subscriptions and then stay silent, as the
exchange's do for these streams. Pings and pongs count toward the 10
messages/second limit (close 1008).
"""

from __future__ import annotations

import contextlib
from typing import Final

from aiohttp import WSMsgType, web

from binmon.server.connection import Connection
from binmon.server.control import handle_control
from binmon.server.state import STATE_KEY

# Pings and pongs count toward the limit too, as on the exchange.
_COUNTED: Final = frozenset({WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG})


def _initial_streams(request: web.Request) -> list[str]:
    tail = request.match_info.get("tail", "")
    if tail:
        return [s for s in tail.split("/") if s]
    streams = request.query.get("streams", "")
    return [s for s in streams.split("/") if s]


async def _refuse(status: int) -> web.Response:
    messages = {
        451: "Service unavailable from a restricted location according to 'b. Eligibility' in "
        "https://www.binance.com/en/terms. Please contact customer service if you believe you "
        "received this message in error.",
        403: "Forbidden.",
        429: "Too many requests.",
        503: "Service unavailable.",
    }
    body = {"code": 0, "msg": messages.get(status, f"Refused with HTTP {status}.")}
    return web.json_response(body, status=status)


async def ws_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    config = state.config
    if config.faults.refuse_status is not None:
        status = config.faults.refuse_status
        state.log(f"{request.remote}: fault: refused upgrade with HTTP {status}")
        return await _refuse(status)
    path = request.path
    routed = path.startswith("/market/")
    combined = path.endswith("/stream")
    # autoping off: pings and pongs count toward the 10 messages/second limit.
    ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 16)
    if not ws.can_prepare(request).ok:
        return web.json_response({"code": -1, "msg": "WebSocket upgrade expected."}, status=400)
    await ws.prepare(request)
    conn = Connection(state, ws, request, routed=routed, combined=combined)
    state.connections.add(conn)
    if state.sent_log is not None:
        state.sent_log.event(conn.id, "open", path=request.path_qs)
    for stream in _initial_streams(request)[: config.max_streams]:
        conn.subscribe(stream)
    state.log(
        f"{conn.peer}: connected to {request.path_qs}"
        + ("" if routed else " (unrouted path: will stay silent)")
    )
    conn.start()
    try:
        async for msg in ws:
            if msg.type in _COUNTED and conn.over_rate_limit():
                limit = config.message_rate_limit
                state.log(f"{conn.peer}: more than {limit} messages/s, closing 1008")
                conn.closed = True
                await ws.close(code=1008, message=b"Too many requests")
                break
            if msg.type == WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.awaiting_pong_since = None
            elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data = msg.data
                text = data if isinstance(data, str) else data.decode("utf-8", "replace")
                conn.reply(handle_control(conn, text))
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        await conn.stop()
        state.connections.discard(conn)
        if state.sent_log is not None:
            state.sent_log.event(conn.id, "closed", frames=conn.sent)
        state.log(f"{conn.peer}: disconnected after {conn.sent} frames")
    return ws
