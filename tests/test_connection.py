"""The connection against a real local server: quiet streams, rotation, URLs, proxies.

The failures (drops, close codes, silence, refusals, bad frames) are in
test_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable

import pytest
from aiohttp import web

from binmon.connection import Backoff, Connection
from binmon.diag import Diagnostics
from binmon.errors import FatalConnectionError
from binmon.protocol import combined_url
from binmon.status import StreamStatus
from tests.exchange import FakeExchange, asset_frame, contract_frame, hold
from tests.streaming import streaming, times, url
from tests.waiting import wait_until


async def test_silent_event_driven_stream_is_left_alone(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(contract_frame(1, "BTCUSDT"))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange, "!contractInfo"), periodic=False, stale_after=0.1) as h:
        await wait_until(lambda: len(h.sink.contracts) == 1)
        # Many stale periods pass: an event-driven stream may be quiet for hours.
        await asyncio.sleep(0.6)
        assert exchange.connections == 1 and h.status.reconnects == 0
        assert h.status.state == "connected"


async def test_rotation_overlaps_and_loses_or_repeats_nothing(exchange: FakeExchange) -> None:
    frames: list[str] = []
    ticker: list[asyncio.Task[None]] = []

    async def produce() -> None:
        for k in range(10_000):
            frames.append(asset_frame(k))
            await asyncio.sleep(0.01)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if not ticker:
            ticker.append(asyncio.create_task(produce()))
        # Like the exchange: every connection gets the same frames from "now" on.
        position = len(frames)
        reader = asyncio.create_task(hold(ws))
        while not ws.closed:
            while position < len(frames) and not ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(frames[position])
                position += 1
            await asyncio.sleep(0.005)
        reader.cancel()

    exchange.script = script
    async with streaming(url(exchange), max_age=0.4, stale_after=5) as h:
        await wait_until(lambda: exchange.connections >= 3, timeout=15)
        await wait_until(lambda: len(times(h.sink)) > 5)
        seen = times(h.sink)
        assert seen == list(range(seen[0], seen[0] + len(seen))), "gap or duplicate"
        assert h.status.reconnects == 0
        # Old legs are closed once replaced: never more than two open at once.
        assert exchange.open_sockets <= 2
        # Rotations, not reconnections: replacements took over.
        assert h.status.rotations >= 1 and h.status.failed_rotations == 0
    ticker[0].cancel()


async def test_rotation_waits_for_a_lagging_old_connection(exchange: FakeExchange) -> None:
    # The old connection delivers each frame 0.3 s late; the replacement is
    # current at once. Swapping on the replacement's first frame would drop
    # what the old one still had in flight.
    published: list[tuple[float, str]] = []
    ticker: list[asyncio.Task[None]] = []

    async def produce() -> None:
        loop = asyncio.get_running_loop()
        for k in range(10_000):
            published.append((loop.time(), asset_frame(k)))
            await asyncio.sleep(0.01)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if not ticker:
            ticker.append(asyncio.create_task(produce()))
        lag = 0.3 if n == 1 else 0.0
        position = len(published)
        reader = asyncio.create_task(hold(ws))
        loop = asyncio.get_running_loop()
        while not ws.closed:
            while position < len(published) and published[position][0] + lag <= loop.time():
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(published[position][1])
                position += 1
            await asyncio.sleep(0.005)
        reader.cancel()

    exchange.script = script
    async with streaming(url(exchange), max_age=0.6, stale_after=5) as h:
        await wait_until(lambda: h.status.rotations == 1)
        switched_at = len(times(h.sink))
        await wait_until(lambda: len(times(h.sink)) > switched_at + 20)
        seen = times(h.sink)
        assert seen == list(range(seen[0], seen[0] + len(seen))), "gap or duplicate"
        assert h.status.reconnects == 0
    ticker[0].cancel()


async def test_a_replacement_that_closes_before_taking_over_loses_nothing(
    exchange: FakeExchange,
) -> None:
    # The old connection has gone quiet; its replacement receives two events
    # and is closed by the server before the takeover. Those two exist nowhere else.
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if n == 1:
            await ws.send_str(contract_frame(1, "AUSDT"))
        elif n == 2:
            await ws.send_str(contract_frame(2, "BUSDT"))
            await ws.send_str(contract_frame(3, "CUSDT"))
            await ws.close(code=1000)
            return
        elif n == 3:
            await ws.send_str(contract_frame(4, "DUSDT"))
        await hold(ws)

    exchange.script = script
    stream = url(exchange, "!contractInfo")
    async with streaming(stream, periodic=False, max_age=0.3, takeover_grace=0.5) as h:
        await wait_until(lambda: len(h.sink.contracts) == 4)
        assert [c.event_time for c in h.sink.contracts] == [1, 2, 3, 4]
        assert h.status.reconnects == 0
        assert h.status.failed_rotations == 1


async def test_a_replacement_connecting_as_the_old_one_dies_is_used_and_closed(
    exchange: FakeExchange,
) -> None:
    async def slow_second_upgrade(attempt: int) -> None:
        if attempt == 2:
            await asyncio.sleep(0.6)  # the old connection is declared silent meanwhile

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(n))
        await hold(ws)

    exchange.before_upgrade = slow_second_upgrade
    exchange.script = script
    async with streaming(url(exchange), max_age=0.3, stale_after=0.4) as h:
        await wait_until(lambda: times(h.sink) == [1, 2])
        # The replacement took over: no third connection, nothing left open.
        assert exchange.connections == 2
        await wait_until(lambda: exchange.open_sockets == 1)
        assert h.status.rotations == 1


def _broadcast(exchange: FakeExchange, silent: int | None = None) -> Callable[[], None]:
    """Every connection gets the same frames (one each 10 ms) from when it opened, like the
    exchange; connection number ``silent`` is accepted and sends nothing. Returns a stopper."""
    frames: list[str] = []
    ticker: list[asyncio.Task[None]] = []

    async def produce() -> None:
        for k in range(100_000):
            frames.append(asset_frame(k))
            await asyncio.sleep(0.01)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if not ticker:
            ticker.append(asyncio.create_task(produce()))
        if n == silent:
            await hold(ws)
            return
        position = len(frames)
        reader = asyncio.create_task(hold(ws))
        while not ws.closed:
            while position < len(frames) and not ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(frames[position])
                position += 1
            await asyncio.sleep(0.005)
        reader.cancel()

    exchange.script = script
    return lambda: exchange.loop.call_soon_threadsafe(ticker[0].cancel)


async def test_a_silent_replacement_is_given_up_and_the_rotation_tried_again(
    exchange: FakeExchange,
) -> None:
    # The second connection is the wrong-path trap: accepted, then nothing.
    # It must not hold the rotation up for good, nor cost the stream anything.
    stop = _broadcast(exchange, silent=2)
    async with streaming(url(exchange), max_age=0.3, stale_after=0.5) as h:
        await wait_until(lambda: exchange.connections >= 3)
        # The third took over; the silent one was given up on and closed by us.
        await wait_until(lambda: (h.status.connected_since or 0) >= exchange.upgrade_times[2])
        await wait_until(lambda: exchange.open_sockets <= 2)
        served = len(times(h.sink))
        await wait_until(lambda: len(times(h.sink)) > served + 20)
        seen = times(h.sink)
        assert seen == list(range(seen[0], seen[0] + len(seen))), "gap or duplicate"
        assert h.status.reconnects == 0
        assert h.status.failed_rotations >= 1 and h.status.rotations >= 1
    stop()


async def test_a_replacement_that_cannot_connect_in_time_is_given_up(
    exchange: FakeExchange,
) -> None:
    stop = _broadcast(exchange)

    async def unanswered_second_upgrade(attempt: int) -> None:
        if attempt == 2:
            await asyncio.sleep(60)

    exchange.before_upgrade = unanswered_second_upgrade
    async with streaming(url(exchange), max_age=0.3, connect_timeout=0.4, stale_after=5) as h:
        # The third attempt is the retried rotation; it takes over.
        await wait_until(lambda: len(exchange.upgrade_times) >= 3)
        await wait_until(lambda: (h.status.connected_since or 0) >= exchange.upgrade_times[2])
        served = len(times(h.sink))
        await wait_until(lambda: len(times(h.sink)) > served + 20)
        seen = times(h.sink)
        assert seen == list(range(seen[0], seen[0] + len(seen))), "gap or duplicate"
        assert h.status.reconnects == 0
        assert h.status.failed_rotations >= 1 and h.status.rotations >= 1
    stop()


async def test_backoff_resets_after_healthy_service_across_rotations(
    exchange: FakeExchange,
) -> None:
    # Each connection is replaced every 0.2 s, so none lives the 0.5 s that
    # counts as healthy; the stream as a whole does, and earlier failures are forgiven.
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        while not ws.closed:
            # One clock for every connection, as on the exchange.
            with contextlib.suppress(ConnectionResetError):
                await ws.send_str(asset_frame(int(time.monotonic() * 1000)))
            await asyncio.sleep(0.01)

    exchange.script = script
    backoff = Backoff(base=0.02, cap=0.1, healthy_after=0.5)
    backoff.attempt = 5  # as after a run of failures
    async with streaming(url(exchange), backoff=backoff, max_age=0.2, stale_after=5) as h:
        await wait_until(lambda: backoff.attempt == 0)
        assert exchange.connections >= 3
        assert h.status.reconnects == 0


@pytest.mark.parametrize("bad", ["not a url", "http://example.com/x", "ws://"])
def test_invalid_urls_are_fatal(bad: str) -> None:
    status = StreamStatus("x")
    with pytest.raises(FatalConnectionError):
        Connection(bad, None, print, status, Diagnostics(io.StringIO()), periodic=True)  # type: ignore[arg-type]


def test_backoff_grows_is_capped_and_resets() -> None:
    import random

    backoff = Backoff(base=1, cap=8, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    assert all(0.5 <= d <= 1 for d in delays[:1])
    assert max(delays) <= 8 and delays[-1] >= 4
    assert delays[3] > delays[0]
    backoff.reset()
    assert backoff.next_delay() <= 1


async def test_testnet_falls_back_to_the_legacy_path_on_silence(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if request.path == "/stream":
            await ws.send_str(asset_frame(n))
        await hold(ws)  # the routed path acknowledges and stays silent

    exchange.script = script
    legacy = combined_url(exchange.ws_url, ["!assetIndex@arr"], legacy=True)
    async with streaming(url(exchange), fallback_url=legacy, stale_after=0.2) as h:
        await wait_until(lambda: times(h.sink) == [2])
        assert h.status.url.endswith("/stream?streams=!assetIndex@arr")
    assert exchange.paths[:2] == [
        "/market/stream?streams=!assetIndex@arr",
        "/stream?streams=!assetIndex@arr",
    ]


async def test_http_proxy_from_the_environment_is_used(
    exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake exchange plays the proxy: binmon asks it for an unresolvable
    # host, so data can only arrive if the request went through the proxy.
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(42))
        await hold(ws)

    exchange.script = script
    for name in ("NO_PROXY", "no_proxy", "WS_PROXY", "ws_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", exchange.rest_url)
    monkeypatch.setenv("http_proxy", exchange.rest_url)
    target = combined_url("ws://binmon-proxy-test.invalid:1", ["!assetIndex@arr"])
    async with streaming(target) as h:
        await wait_until(lambda: times(h.sink) == [42])


def test_no_proxy_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    import yarl

    from binmon.proxy import env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "fstream.binance.com")
    monkeypatch.setenv("no_proxy", "fstream.binance.com")
    assert env_proxy(yarl.URL("wss://fstream.binance.com/market/stream")) == (None, None)
    proxy, _ = env_proxy(yarl.URL("wss://fstream.binancefuture.com/market/stream"))
    assert proxy == yarl.URL("http://proxy.example:3128")
    # Loopback never goes through a proxy: serve and demo must work behind one.
    assert env_proxy(yarl.URL("wss://127.0.0.1:9443/market/stream")) == (None, None)
    assert env_proxy(yarl.URL("https://localhost:9443/fapi/v1/time")) == (None, None)
