"""The fault matrix: each way the exchange, the network or the reader of our
output can misbehave, against a real local server.

What must hold every time: every valid event arrives, in order, exactly once
(while connected); each failure is one clear line on stderr and is retried
unless it is fatal by SPEC; memory stays bounded; nothing from the network
reaches the terminal as an escape sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from binmon.connection import Backoff
from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.errors import FatalConnectionError
from binmon.output import Output
from binmon.run_config import Endpoints
from binmon.runner import CONTRACTS, RunConfig, Runner
from binmon.server import ServerConfig, start_server
from binmon.sinks import JsonLinesSink
from tests.exchange import ASSET, FakeExchange, asset_frame, contract_frame, hold, symbol_info
from tests.streaming import read_all, streaming, times, url
from tests.waiting import wait_until, wait_until_sync

TWENTY = tuple(f"A{n:02d}USD" for n in range(20))


# --- drops, close codes, silence ---------------------------------------------


@pytest.mark.parametrize("after", [1, 3])
async def test_drop_after_n_frames(exchange: FakeExchange, after: int) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for k in range(after):
            await ws.send_str(asset_frame(n * 100 + k))
        if n < 3:
            # The TCP connection goes away without a close frame.
            request.transport.close()  # type: ignore[union-attr]
            return
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: len(times(h.sink)) == 3 * after)
        expected = [n * 100 + k for n in (1, 2, 3) for k in range(after)]
        assert times(h.sink) == expected
        await wait_until(lambda: h.status.state == "connected")
        assert h.status.reconnects == 2
    assert exchange.connections == 3


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, "closed by server (code 1000, normal closure: bye)"),
        (1001, "closed by server (code 1001, going away: bye)"),
        (1006, "connection lost (no close frame)"),
        (1008, "closed by server (code 1008, policy violation: bye)"),
        (1011, "closed by server (code 1011, server error: bye)"),
    ],
)
async def test_close_codes_are_retried(exchange: FakeExchange, code: int, reason: str) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(n))
        if n < 3:
            if code == 1006:
                # 1006 is never sent: it is what a client sees when the socket just dies.
                request.transport.abort()  # type: ignore[union-attr]
            else:
                await ws.close(code=code, message=b"bye")
            return
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: times(h.sink) == [1, 2, 3])
        assert h.status.reconnects == 2
    assert f"{reason}; reconnecting in" in h.stderr.getvalue()


async def test_a_silent_but_open_socket_is_recycled(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(n))
        await hold(ws)  # then nothing, the socket open, pings answered

    exchange.script = script
    async with streaming(url(exchange), stale_after=0.3) as h:
        await wait_until(lambda: times(h.sink) == [1, 2, 3])
        assert h.status.reconnects >= 2
        # Left for its silence, each time, and not taken for the wrong-path trap.
        assert h.status.silences >= 2 and h.status.silent_connects == 0


async def test_the_silent_ack_trap_is_called_out_loudly() -> None:
    # `binmon serve` itself plays the exchange's trap: its retired /stream
    # path accepts connections and SUBSCRIBEs and then sends nothing.
    runner, port = await start_server(ServerConfig(rate=50))
    try:
        legacy = f"ws://127.0.0.1:{port}/stream?streams=!assetIndex@arr"
        async with streaming(legacy, stale_after=0.2) as h:
            await wait_until(lambda: h.status.silent_connects >= 2)
            assert not h.task.done()  # retried, never given up
            assert not h.sink.events
    finally:
        await runner.cleanup()
    # Loud once, not once per retry: the advice names the flag to check.
    assert h.stderr.getvalue().count("--ws-url") == 1


async def test_silence_where_data_came_before_is_an_outage_not_the_trap(
    exchange: FakeExchange,
) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if n in (1, 3):
            await ws.send_str(asset_frame(n))
        await hold(ws)  # the second connection is silenced at once

    exchange.script = script
    async with streaming(url(exchange), stale_after=0.3) as h:
        await wait_until(lambda: times(h.sink) == [1, 3])
        assert h.status.silent_connects == 0
        assert h.status.silences >= 1 and h.status.reconnects >= 1
    assert "--ws-url" not in h.stderr.getvalue()


async def test_a_server_that_stops_answering_our_pings_is_left(exchange: FakeExchange) -> None:
    exchange.autoping = False

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(contract_frame(n, "BTCUSDT"))
        async for msg in ws:
            if msg.type == WSMsgType.PING and n > 1:
                await ws.pong(msg.data)
            # The first connection reads our pings and never answers.

    exchange.script = script
    stream = url(exchange, "!contractInfo")
    # An event-driven stream: only the heartbeat can tell that it is dead.
    async with streaming(stream, periodic=False, heartbeat=0.2) as h:
        await wait_until(lambda: [c.event_time for c in h.sink.contracts] == [1, 2])
        assert h.status.reconnects == 1
    assert "no pong to our ping within 0.1s; reconnecting in" in h.stderr.getvalue()


async def test_the_exchange_pings_are_answered_while_our_reader_is_paused(
    exchange: FakeExchange,
) -> None:
    """A consumer that stops reading stdout must not stop us answering pings."""
    exchange.autoping = False
    pongs: list[bytes] = []
    frames = [asset_frame(k, TWENTY) for k in range(300)]

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for frame in frames:  # ~2 MB of JSON lines: thirty pipes' worth
            await ws.send_str(frame)
        await ws.ping(b"1716800000000")  # the exchange's pings carry a payload
        async for msg in ws:
            if msg.type == WSMsgType.PONG:
                pongs.append(msg.data)

    exchange.script = script
    r, w = os.pipe()
    stream = os.fdopen(w, "wb", closefd=False)
    output = Output(stream, limit=16 << 20)
    try:
        async with streaming(
            url(exchange), sink=JsonLinesSink(output), backpressure=output, stale_after=0.5
        ) as h:
            await wait_until(lambda: pongs == [b"1716800000000"])
            assert output.pending > 1 << 20  # still unread: the pipe is full
            assert exchange.connections == 1 and h.status.reconnects == 0
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(read_all(r)))
        reader.start()
        output.close()
        os.close(w)
        reader.join(30)
        data = got[0]
    finally:
        stream.close()
        os.close(r)
    got = [(d["event_time"], d["symbol"]) for d in map(json.loads, data.splitlines())]
    assert got == [(k, s) for k in range(300) for s in TWENTY]


async def test_a_reader_paused_past_the_heartbeat_is_named_as_the_cause(
    exchange: FakeExchange,
) -> None:
    """The one loss a blocked reader can cause: binmon says whose fault it was.

    With the buffer full, reading pauses; the pong to our heartbeat ping then
    waits unread behind the data, and the heartbeat gives the server up.
    """
    frames = [asset_frame(k, TWENTY) for k in range(2000)]
    r, w = os.pipe()
    stream = os.fdopen(w, "wb", closefd=False)
    output = Output(stream, limit=100_000)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        # Until the output is backlogged: on a busy machine the heartbeat can
        # give a connection up before that, while binmon is merely slow.
        if not output.backlogged:
            for frame in frames:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(frame)
        await hold(ws)

    exchange.script = script
    try:
        async with streaming(
            url(exchange), sink=JsonLinesSink(output), backpressure=output, heartbeat=0.2
        ) as h:
            await wait_until(lambda: output.backlogged)
            reconnects = h.status.reconnects
            # The heartbeat gives up (the server sees us go); then the reader comes back.
            await wait_until(lambda: exchange.open_sockets == 0)
            reader = threading.Thread(target=read_all, args=(r,), daemon=True)
            reader.start()
            await wait_until(lambda: h.status.reconnects > reconnects)
        output.close()
        os.close(w)
        reader.join(30)
    finally:
        stream.close()
        os.close(r)
    assert h.status.pauses >= 1
    log = h.stderr.getvalue()
    assert (
        "no pong to our ping within 0.1s (after reading was paused: the output was not being read)"
        in log
    )


# --- bad frames ------------------------------------------------------------------

_GOOD = {**ASSET, "s": "ADAUSD"}
_BAD_FRAMES = {
    "not JSON": "{nope",
    "cut in half": asset_frame(99)[:40],
    "JSON of the wrong shape": '{"stream":"!assetIndex@arr","data":{"x":1}}',
    "not an envelope": "[1,2,3]",
    "a value that is no number": json.dumps(
        {"stream": "!assetIndex@arr", "data": [{**_GOOD, "E": 98, "i": "NaN"}]}
    ),
    "binary garbage": b"\xff\xfe\x00",
}


@pytest.mark.parametrize("where", [0, 2, 5], ids=["first", "middle", "last"])
@pytest.mark.parametrize("kind", list(_BAD_FRAMES))
async def test_a_malformed_frame_anywhere_loses_nothing(
    exchange: FakeExchange, kind: str, where: int
) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for k in range(6):
            if k == where:
                bad = _BAD_FRAMES[kind]
                await (ws.send_bytes(bad) if isinstance(bad, bytes) else ws.send_str(bad))
            if k < 5:
                await ws.send_str(asset_frame(k))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: h.status.malformed == 1 and len(times(h.sink)) == 5)
        assert [(e.event_time, e.symbol) for e in h.sink.events] == [
            (k, s) for k in range(5) for s in ("ADAUSD", "BTCUSD")
        ]
        assert exchange.connections == 1
        assert h.feed.malformed == 1


_BAD_ELEMENTS = {
    "a value that is no number": {**_GOOD, "b": "0.1.2"},
    "a missing field": {k: v for k, v in _GOOD.items() if k != "i"},
    "a wrong type": {**_GOOD, "E": "soon"},
    "not an object": "BTCUSD",
}


@pytest.mark.parametrize("where", [0, 1, 2], ids=["first", "middle", "last"])
@pytest.mark.parametrize("kind", list(_BAD_ELEMENTS))
async def test_a_malformed_element_inside_an_array_loses_only_itself(
    exchange: FakeExchange, kind: str, where: int
) -> None:
    symbols = ["X0USD", "X1USD", "X2USD"]
    elements: list[Any] = [{**_GOOD, "E": 7, "s": s} for s in symbols]
    elements[where] = _BAD_ELEMENTS[kind]

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(json.dumps({"stream": "!assetIndex@arr", "data": elements}))
        await ws.send_str(asset_frame(8))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: times(h.sink) == [8])
        kept = [s for i, s in enumerate(symbols) if i != where]
        assert [e.symbol for e in h.sink.events] == [*kept, "ADAUSD", "BTCUSD"]
        assert h.status.malformed == 1


async def test_a_malformed_contract_element_loses_only_itself(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(contract_frame(1, "AUSDT"))
        await ws.send_str(contract_frame(2, "BUSDT", bks=[{"bs": 1, "bnf": "x"}]))
        await ws.send_str(contract_frame(3, "CUSDT", cs=None))
        await ws.send_str(contract_frame(4, "DUSDT"))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange, "!contractInfo"), periodic=False) as h:
        await wait_until(lambda: [c.symbol for c in h.sink.contracts][-1:] == ["DUSDT"])
        assert [c.symbol for c in h.sink.contracts] == ["AUSDT", "CUSDT", "DUSDT"]
        assert h.status.malformed == 1


async def test_a_frame_over_the_size_limit_is_an_error_and_a_reconnect(
    exchange: FakeExchange,
) -> None:
    huge = asset_frame(2, tuple(f"Z{n:04d}USD" for n in range(400)))
    assert len(huge) > 65536

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if n == 1:
            await ws.send_str(asset_frame(1))
            await ws.send_str(huge)
        else:
            await ws.send_str(asset_frame(3))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange), max_frame=65536) as h:
        await wait_until(lambda: times(h.sink) == [1, 3])
        assert h.status.malformed == 1 and h.status.reconnects == 1
    # The limit is named, twice: the frame skipped, the connection left.
    assert h.stderr.getvalue().count("65536") == 2


# --- refusals and unreachable hosts ------------------------------------------------


@pytest.mark.parametrize("status", [451, 403, 401])
async def test_refusals_that_are_fatal(exchange: FakeExchange, status: int) -> None:
    exchange.upgrade_status = status
    async with streaming(url(exchange)) as h:
        with pytest.raises(FatalConnectionError, match=f"HTTP {status}"):
            await asyncio.wait_for(h.task, 10)
    assert len(exchange.upgrade_times) == 1


@pytest.mark.parametrize(("status", "hint"), [(503, "unavailable"), (404, "wrong path?")])
async def test_refusals_that_are_retried(exchange: FakeExchange, status: int, hint: str) -> None:
    exchange.upgrade_status = status

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(7))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: h.status.reconnects >= 2)
        exchange.upgrade_status = None
        await wait_until(lambda: times(h.sink) == [7])
    assert f"upgrade refused: HTTP {status} ({hint}); reconnecting in" in h.stderr.getvalue()


@pytest.mark.parametrize(("status", "hint"), [(429, "rate limited"), (418, "IP banned")])
async def test_a_rate_limited_upgrade_waits_for_retry_after(
    exchange: FakeExchange, status: int, hint: str
) -> None:
    exchange.upgrade_status = status
    exchange.upgrade_headers = {"Retry-After": "1"}

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(5))
        await hold(ws)

    exchange.script = script
    async with streaming(url(exchange)) as h:
        await wait_until(lambda: len(exchange.upgrade_times) == 1)
        exchange.upgrade_status = None
        await wait_until(lambda: times(h.sink) == [5])
    first, second = exchange.upgrade_times[:2]
    # Our own backoff here is 0.1 s at most: the server's word won.
    assert second - first >= 0.95
    log = h.stderr.getvalue()
    assert f"HTTP {status} ({hint}), Retry-After 1s; reconnecting in 1.0s" in log


async def test_dns_failure_is_retried_with_a_clear_reason() -> None:
    async with streaming("ws://binmon-no-such-host.invalid:9443/market/stream?streams=x") as h:
        await wait_until(lambda: h.status.reconnects >= 2, timeout=30)
        assert not h.task.done()
    assert "cannot resolve host binmon-no-such-host.invalid (DNS:" in h.stderr.getvalue()


async def test_a_refused_connection_is_retried_with_a_clear_reason() -> None:
    async with streaming("ws://127.0.0.1:9/market/stream?streams=x") as h:
        await wait_until(lambda: h.status.reconnects >= 2)
        assert not h.task.done()
        assert h.status.state in ("reconnecting", "connecting")
    log = h.stderr.getvalue()
    assert "cannot connect to 127.0.0.1:9 (connection refused); reconnecting in" in log
    assert "ssl:" not in log


# --- REST seeding fails while the stream runs -------------------------------------


async def test_seeding_failures_are_retried_while_the_stream_keeps_running(
    exchange: FakeExchange,
) -> None:
    exchange.rest_failures = [
        (429, {"Retry-After": "0"}),
        (418, {"Retry-After": "0"}),
        (500, {}),
        (502, {}),
        (503, {}),
    ]
    exchange.exchange_info = {"symbols": [symbol_info("ETHUSDT")]}
    seeded = 1 + len(exchange.rest_failures)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(contract_frame(1, "BTCUSDT"))
        while exchange.exchange_info_requests < seeded:
            await asyncio.sleep(0.01)
        await ws.send_str(contract_frame(2, "ETHUSDT", "SETTLING"))
        await hold(ws)

    exchange.script = script
    out, err = io.BytesIO(), io.StringIO()
    config = RunConfig(
        kinds=(CONTRACTS,),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        count=2,
        seed_wait=0.05,
        backoff=lambda: Backoff(base=0.15, cap=0.3),
    )
    runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err))
    task = asyncio.create_task(runner.run())
    # The first event is out while the snapshot is still being refused.
    await wait_until(lambda: b"BTCUSDT" in out.getvalue())
    assert exchange.exchange_info_requests < seeded
    async with asyncio.timeout(20):
        await task
    first, second = map(json.loads, out.getvalue().splitlines())
    assert (first["symbol"], first["changes"]) == ("BTCUSDT", [])
    # Once seeded, changes are computed against the snapshot.
    assert second["changes"] == [{"field": "status", "old": "TRADING", "new": "SETTLING"}]
    failures = [x for x in err.getvalue().splitlines() if "exchangeInfo failed" in x]
    statuses = [re.findall(r"HTTP (\d{3})", x) for x in failures]
    assert statuses == [["429"], ["418"], ["500"], ["502"], ["503"]]
    assert exchange.connections == 1


@pytest.mark.parametrize("status", [451, 403, 401])
async def test_a_refused_snapshot_is_fatal_like_a_refused_upgrade(
    exchange: FakeExchange, status: int
) -> None:
    exchange.rest_failures = [(status, {}), (status, {})]
    err = io.StringIO()
    config = RunConfig(
        kinds=(CONTRACTS,),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        duration=30,
        backoff=lambda: Backoff(base=0.01, cap=0.01),
    )
    runner = Runner(config, Environment(stdout=io.BytesIO(), stderr=err), Diagnostics(err))
    with pytest.raises(FatalConnectionError) as info:
        async with asyncio.timeout(20):
            await runner.run()
    assert getattr(info.value, "status", None) == status
    assert exchange.exchange_info_requests == 1


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("inf", "0.1"),
        ("nan", "0.1"),
        ("soon", "0.1"),
        ("-5", "0.1"),
        ("2", "2.0"),
        ("1e12", "3600.0"),
    ],
)
async def test_retry_after_on_rest_is_honoured_within_bounds(
    exchange: FakeExchange, value: str, wait: str
) -> None:
    exchange.rest_failures = [(429, {"Retry-After": value})]
    out, err = io.BytesIO(), io.StringIO()
    config = RunConfig(
        kinds=(CONTRACTS,),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        duration=30,
        # Fixed 0.1 s backoff: what a header that means nothing leaves us with.
        backoff=lambda: Backoff(base=0.1, cap=0.1, factor=1.0, rng=random.Random(0)),
    )
    runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err))
    task = asyncio.create_task(runner.run())
    try:
        await wait_until(lambda: "exchangeInfo failed" in err.getvalue())
    finally:
        runner.stop.set()
        async with asyncio.timeout(10):
            await task
    (line,) = [x for x in err.getvalue().splitlines() if "exchangeInfo failed" in x]
    assert line.endswith(f"retrying in {wait}s"), line


# --- hostile strings -------------------------------------------------------------------

HOSTILE = "\x1b[2J\x1b]0;pwned\x07[bold red]X[/]\u009b31m\r\n\t\x00"


async def test_hostile_strings_stay_data_in_json_and_diagnostics(
    exchange: FakeExchange,
) -> None:
    exchange.exchange_info = {"symbols": [symbol_info("BTCUSDT", status=HOSTILE)]}
    asset = {**ASSET, "E": 1, "s": HOSTILE}

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(json.dumps({"stream": "!assetIndex@arr", "data": [asset]}))
        await ws.send_str(contract_frame(2, "BTCUSDT", "TRADING", ps=HOSTILE, ct=HOSTILE, st=1))
        await ws.send_str(contract_frame(3, HOSTILE, HOSTILE))
        await ws.send_str(json.dumps({"code": 2, "msg": HOSTILE, "id": 1}))
        await ws.send_str(json.dumps({"stream": HOSTILE, "data": "x"}))
        await ws.close(code=1011, message=HOSTILE.encode())

    exchange.script = script
    for raw in (False, True):
        out, err = io.BytesIO(), io.StringIO()
        config = RunConfig(
            kinds=("asset index", CONTRACTS),
            endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
            raw=raw,
            count=3,
            backoff=lambda: Backoff(base=0.02, cap=0.05),
        )
        runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err, 1))
        async with asyncio.timeout(20):
            await runner.run()
        data = out.getvalue()
        _assert_inert(data.decode())
        _assert_inert(err.getvalue())
        rows = [json.loads(line) for line in data.splitlines()]
        strings = {v for row in rows for v in row.values() if isinstance(v, str)}
        # The same text, escaped as JSON: nothing lost, nothing interpreted.
        assert HOSTILE in strings
        if not raw:
            changes = [c for row in rows for c in row.get("changes") or ()]
            assert {"field": "status", "old": HOSTILE, "new": "TRADING"} in changes


def _assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert not any(0x80 <= ord(c) <= 0x9F for c in text)


# --- volume and a reader that pauses (real processes) --------------------------------


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def binmon(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "binmon", *args], stdout=subprocess.PIPE, stderr=err
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
            err.seek(0)
            proc.stderr_text = err.read().decode()  # type: ignore[attr-defined]


class Burst:
    """Sends ``frames`` on the first connection once ``go`` is set; counts progress."""

    def __init__(self, frames: list[str], send_timeout: float | None = None) -> None:
        self.frames = frames
        self.send_timeout = send_timeout
        self.go = threading.Event()
        self.sent = 0
        self.gave_up = False

    async def __call__(self, ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        while not self.go.is_set():
            await asyncio.sleep(0.01)
        if n == 1:
            for frame in self.frames:
                try:
                    async with asyncio.timeout(self.send_timeout):
                        await ws.send_str(frame)
                except TimeoutError:
                    # Like the exchange: a client too slow to read is dropped.
                    self.gave_up = True
                    request.transport.abort()  # type: ignore[union-attr]
                    return
                self.sent += 1
        await hold(ws)


def _lines_in_order(data: bytes, frames: int, symbols: tuple[str, ...]) -> None:
    got = [(d["event_time"], d["symbol"]) for d in map(json.loads, data.splitlines())]
    expected = [(k, s) for k in range(frames) for s in symbols]
    assert len(got) == len(expected)
    assert got == expected


def test_a_100k_event_burst_arrives_exactly_once(exchange: FakeExchange) -> None:
    burst = Burst([asset_frame(k, TWENTY) for k in range(5000)])
    exchange.script = burst
    burst.go.set()
    with binmon("assets", "--json", "-n", "100000", *exchange.args()) as proc:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
    _lines_in_order(out, 5000, TWENTY)
    assert exchange.connections == 1


def test_a_reader_pausing_for_seconds_costs_nothing_and_is_not_dropped(
    exchange: FakeExchange,
) -> None:
    # ~7 MB of JSON lines, sent by a server that drops clients which stop
    # reading for a second: binmon must keep reading while its reader does not.
    burst = Burst([asset_frame(k, TWENTY) for k in range(1000)], send_timeout=1.0)
    exchange.script = burst
    with binmon("assets", "--json", "-n", "20000", "--stale-after", "1", *exchange.args()) as proc:
        wait_until_sync(lambda: exchange.connections == 1, timeout=30)
        burst.go.set()
        wait_until_sync(lambda: burst.sent == 1000 or burst.gave_up, timeout=30)
        # Everything has left the server and we have not read a byte yet.
        assert not burst.gave_up
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
    _lines_in_order(out, 1000, TWENTY)
    assert exchange.connections == 1
    assert "reconnecting" not in proc.stderr_text  # type: ignore[attr-defined]


def test_a_blocked_reader_pauses_the_stream_with_memory_bounded(
    exchange: FakeExchange,
) -> None:
    frames = 9000  # 180,000 events, ~60 MB of JSON lines: far over the 16 MiB buffer
    burst = Burst([asset_frame(k, TWENTY) for k in range(frames)])
    exchange.script = burst
    events = str(frames * len(TWENTY))
    with binmon("assets", "--json", "-n", events, "--stale-after", "1", *exchange.args()) as proc:
        wait_until_sync(lambda: exchange.connections == 1, timeout=30)
        baseline = _rss(proc.pid)
        burst.go.set()
        # Wait until the pressure has reached the server: it can send no more.
        peak, last, still_since = baseline, -1, time.monotonic()
        while time.monotonic() - still_since < 1.0:
            peak = max(peak, _rss(proc.pid))
            if burst.sent != last:
                last, still_since = burst.sent, time.monotonic()
            time.sleep(0.05)
        assert 0 < burst.sent < frames
        assert peak - baseline < 48 << 20, f"grew {(peak - baseline) >> 20} MiB while blocked"
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
    _lines_in_order(out, frames, TWENTY)
    assert exchange.connections == 1
    stderr = proc.stderr_text  # type: ignore[attr-defined]
    assert "output is not being read; reading paused until it drains" in stderr
    assert "reconnecting" not in stderr


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_ends_binmon_even_when_nobody_reads_its_output(
    exchange: FakeExchange, sig: int, status: int
) -> None:
    burst = Burst([asset_frame(k, TWENTY) for k in range(500)])  # ~3 MB: the pipe fills
    exchange.script = burst
    with binmon("assets", "--json", *exchange.args()) as proc:
        wait_until_sync(lambda: exchange.connections == 1, timeout=30)
        burst.go.set()
        wait_until_sync(lambda: burst.sent == 500, timeout=30)
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(15) == status
        # The exit grace (2 s) for a reader that never reads, not forever.
        assert time.monotonic() - started < 10
    stderr = proc.stderr_text  # type: ignore[attr-defined]
    assert "bytes of output dropped at exit after waiting 2s" in stderr
    assert "Traceback" not in stderr
