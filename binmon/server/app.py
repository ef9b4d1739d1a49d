"""The aiohttp application behind ``binmon serve``.

Faithful where clients get it wrong: routed ``/market`` paths versus the
legacy ``/ws``/``/stream`` paths (which acknowledge and then stay silent),
control messages with the exchange's exact replies and error codes, the
10 messages/second limit (close 1008), pings with a payload, signed REST with
the exchange's error codes. Each frame is encoded once per tick and the same
bytes go to every subscriber; each connection has its own queue and writer,
so a slow client delays nobody (it is disconnected when it falls too far
behind, as the exchange does).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

import msgspec
from aiohttp import WSMsgType, web

from binmon.errors import BinmonError
from binmon.protocol import PERPETUAL_DELIVERY_MS
from binmon.server import ServerConfig
from binmon.server.faults import Faults
from binmon.server.scenario import (
    CM,
    UM,
    AssetIndexUpdate,
    BracketWire,
    Contract,
    Scenario,
    Tick,
    build_brackets,
    encode,
    ladder_rungs,
)
from binmon.server.sentlog import SentLog, frame_keys
from binmon.signing import verify

ASSET_INDEX_ALL: Final = "!assetIndex@arr"
CONTRACT_INFO: Final = "!contractInfo"
ASSET_STREAM_SUFFIX: Final = "@assetIndex"

_METHODS: Final = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_UNKNOWN_METHOD: Final = "Invalid request: unknown variant `{}`, expected one of " + ", ".join(
    f"`{m}`" for m in _METHODS
)
_BAD_ID: Final = "Invalid request: request ID must be an unsigned integer"
_STREAM_RE: Final = re.compile(r"[A-Za-z0-9!@_.\-]{1,200}")
_MAX_ID: Final = 2**64 - 1

_MANDATORY: Final = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
_ILLEGAL: Final = "Illegal characters found in parameter '{}'; legal range is '^[0-9]{{1,20}}$'."
_AHEAD: Final = "Timestamp for this request was 1000ms ahead of the server's time."
_RECV_WINDOW_DEFAULT: Final = 5000
_RECV_WINDOW_MAX: Final = 60000

# --chaos: the close codes a server may plausibly send (normal, going away, internal error).
CHAOS_CLOSE_CODES: Final = (1000, 1001, 1011)
CHAOS_KINDS: Final = ("drop", "close", "silent")
# After a chaos drop (FIN, no close frame) a peer that never closes its side
# is cut off after this long.
_HALF_CLOSED_GRACE: Final = 5.0


def _now_ms(offset_ms: int) -> int:
    return int(time.time() * 1000) + offset_ms


def _stream_bytes(name: str) -> bytes:
    return msgspec.json.encode(name)


# --- connections -------------------------------------------------------------


@dataclass(frozen=True)
class ChaosPlan:
    """What ``--chaos`` does to one connection."""

    delay: float
    kind: str  # one of CHAOS_KINDS
    code: int | None = None  # the close code, for "close"

    @property
    def fault(self) -> str:
        return f"close {self.code}" if self.code is not None else self.kind


def chaos_plan(seed: int, connection_id: int, mean: float) -> ChaosPlan:
    """The fault of connection number ``connection_id`` (1, 2, ...) of a run.

    Seeded per connection: a run with the same ``--seed`` meets the same
    faults in the same order of connections, whatever the timing.
    """
    rng = random.Random(f"{seed}:chaos:{connection_id}")
    delay = rng.expovariate(1.0 / mean)
    kind = rng.choice(CHAOS_KINDS)
    code = rng.choice(CHAOS_CLOSE_CODES) if kind == "close" else None
    return ChaosPlan(delay, kind, code)


class Connection:
    """One WebSocket client: its subscriptions, its send queue, its faults."""

    def __init__(
        self,
        state: ServerState,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        routed: bool,
        combined: bool,
    ) -> None:
        self.state = state
        self.ws = ws
        self.request = request
        # Unrouted (legacy) paths accept subscriptions and never deliver data.
        self.routed = routed
        self.combined = combined
        self.streams: list[str] = []
        # (stream, frame, its keys for the sent log); stream None = a control reply.
        self.queue: asyncio.Queue[tuple[str | None, bytes, bytes | None]] = asyncio.Queue()
        self.id = state.next_connection_id()
        self.sent = 0
        self.garbage_sent = 0
        self.silent = False
        self.closed = False
        self.opened = time.monotonic()
        self.awaiting_pong_since: float | None = None
        self.incoming: deque[float] = deque()
        # The address alone is the same for every local client: the id tells them apart.
        self.peer = f"{request.remote or '?'} #{self.id}"
        self._tasks: list[asyncio.Task[None]] = []

    # -- subscriptions

    def subscribe(self, stream: str) -> None:
        if stream in self.streams:
            return
        self.streams.append(stream)
        if self.routed:
            self.state.hub.add(stream, self)

    def unsubscribe(self, stream: str) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            self.state.hub.discard(stream, self)

    # -- sending

    def push(self, stream: str | None, data: bytes, keys: bytes | None = None) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.state.config.max_queue:
            # Too slow to keep up: the exchange disconnects such clients too.
            self.state.log(f"{self.peer}: client too slow, disconnecting")
            self.state.cut_off(self, "too slow")
            self.closed = True
            self._abort()
            return
        self.queue.put_nowait((stream, data, keys))

    def reply(self, obj: dict[str, Any]) -> None:
        self.push(None, msgspec.json.encode(obj))

    async def _send(self, data: bytes) -> bool:
        try:
            await self.ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            self.closed = True
            return False
        return True

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def writer(self) -> None:
        faults = self.state.config.faults
        sent_log = self.state.sent_log
        while True:
            stream, data, keys = await self.queue.get()
            if self.silent or self.closed:
                continue
            if stream is None:
                if not await self._send(data):
                    return
                continue
            if not await self._send(data):
                return
            self.sent += 1
            if sent_log is not None:
                sent_log.data(self.id, stream, keys if keys is not None else b"null")
            if faults.garbage_every is not None and self.sent % faults.garbage_every == 0:
                if not await self._send(self._garbage(stream, data)):
                    return
                self.garbage_sent += 1
            if faults.silent_after is not None and self.sent >= faults.silent_after:
                self.state.fault(self, "silent", f"silent after {self.sent} frames")
                self.silent = True
            if faults.drop_every is not None and self.sent >= faults.drop_every:
                await self._drop(faults)
                return

    async def _drop(self, faults: Faults) -> None:
        self.closed = True
        if faults.close_code is not None:
            self.state.fault(
                self, f"close {faults.close_code}", f"close {faults.close_code} after {self.sent}"
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=faults.close_code, message=b"binmon serve: injected close")
        else:
            self.state.fault(self, "abort", f"dropped after {self.sent} frames")
            self._abort()

    async def chaos(self, mean: float) -> None:
        """One random fault after a random time: drop, close with a code, or silence."""
        plan = chaos_plan(self.state.config.seed, self.id, mean)
        await asyncio.sleep(plan.delay)
        if self.closed or self.silent:
            return
        age = time.monotonic() - self.opened
        if plan.kind == "silent":
            self.state.fault(self, "silent", f"chaos: silent after {age:.1f}s, {self.sent} frames")
            self.silent = True
            return
        # No frame may start after this point: what the sent log holds is
        # exactly what precedes the end of the stream on the wire.
        self.closed = True
        if plan.code is not None:
            self.state.fault(
                self, plan.fault, f"chaos: close {plan.code} after {age:.1f}s, {self.sent} frames"
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=plan.code, message=b"binmon serve: chaos")
            return
        self.state.fault(
            self, "drop", f"chaos: dropped (no close frame) after {age:.1f}s, {self.sent} frames"
        )
        await self._half_close()

    async def _half_close(self) -> None:
        """End the stream without a close frame, yet deliver every byte already written.

        ``abort()`` would discard frames still in the transport's buffer
        (already counted as sent), and ``close()`` with unread input makes the
        kernel answer with a reset that can destroy them at the peer too: so
        flush and send FIN, keep reading until the peer hangs up, and only then
        (or after a grace period) close.
        """
        transport = self.request.transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        # Normally the peer hangs up first, the handler ends and cancels this.
        await asyncio.sleep(_HALF_CLOSED_GRACE)
        if not transport.is_closing():
            transport.close()

    def _garbage(self, stream: str, frame: bytes) -> bytes:
        """A malformed frame for ``stream``, cycling through three kinds of bad."""
        kind = self.garbage_sent % 3
        if kind == 0:
            # Not JSON: a frame cut in half (still valid UTF-8 text).
            return frame[: max(1, len(frame) // 2)].decode("utf-8", "ignore").encode()
        if kind == 1:
            # JSON, but not a stream message at all.
            payload: Any = {"unexpected": True}
        elif stream == CONTRACT_INFO:
            payload = {"e": "contractInfo", "E": "soon", "s": "BADUSDT", "cs": "TRADING", "bks": []}
        else:
            bad = {
                "e": "assetIndexUpdate",
                "E": _now_ms(self.state.config.clock_offset_ms),
                "s": "BADUSD",
                **dict.fromkeys("ibaBAqgQG", "NaN"),
            }
            payload = [bad] if stream == ASSET_INDEX_ALL else bad
        if self.combined:
            return msgspec.json.encode({"stream": stream, "data": payload})
        return msgspec.json.encode(payload)

    async def pinger(self) -> None:
        config = self.state.config
        next_ping = time.monotonic() + config.ping_interval
        deadline = (
            self.opened + config.max_connection_age if config.max_connection_age else float("inf")
        )
        while not self.closed:
            now = time.monotonic()
            await asyncio.sleep(max(0.0, min(next_ping, deadline) - now))
            now = time.monotonic()
            if now >= deadline:
                self.state.log(f"{self.peer}: connection age limit reached, closing")
                self.closed = True
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.close(code=1000, message=b"connection lifetime exceeded")
                return
            if now < next_ping:
                continue
            if self.awaiting_pong_since is not None and (
                now - self.awaiting_pong_since > config.pong_timeout
            ):
                self.state.log(f"{self.peer}: no pong for {config.pong_timeout:g}s, disconnecting")
                self.state.cut_off(self, "no pong")
                self.closed = True
                self._abort()
                return
            if self.awaiting_pong_since is None:
                self.awaiting_pong_since = now
            # aiohttp's heartbeat pings carry no payload; the exchange's do.
            payload = str(_now_ms(config.clock_offset_ms)).encode()
            try:
                await self.ws.ping(payload)
            except (ConnectionError, RuntimeError):
                return
            next_ping = now + config.ping_interval

    def over_rate_limit(self) -> bool:
        """Count one incoming message; True when the last second had too many."""
        now = time.monotonic()
        incoming = self.incoming
        incoming.append(now)
        while incoming and incoming[0] <= now - 1.0:
            incoming.popleft()
        return len(incoming) > self.state.config.message_rate_limit

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.writer()),
            asyncio.create_task(self.pinger()),
        ]
        chaos = self.state.config.faults.chaos
        if chaos is not None:
            self._tasks.append(asyncio.create_task(self.chaos(chaos)))

    async def stop(self) -> None:
        self.closed = True
        for stream in list(self.streams):
            self.state.hub.discard(stream, self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Hub:
    """Who listens to which stream; frames are encoded once and shared."""

    def __init__(self, *, keys: bool = False) -> None:
        self._subscribers: dict[str, set[Connection]] = {}
        self._envelope_prefix: dict[str, bytes] = {}
        self.first_subscriber = asyncio.Event()
        # With a sent log: each frame's keys, extracted once for all its subscribers.
        self.keys = keys

    def add(self, stream: str, conn: Connection) -> None:
        self._subscribers.setdefault(stream, set()).add(conn)
        self.first_subscriber.set()

    def discard(self, stream: str, conn: Connection) -> None:
        subs = self._subscribers.get(stream)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._subscribers[stream]

    def wanted(self, stream: str) -> bool:
        return stream in self._subscribers

    def publish(self, stream: str, payload: bytes) -> None:
        subs = self._subscribers.get(stream)
        if not subs:
            return
        combined: bytes | None = None
        keys = frame_keys(payload) if self.keys else None
        for conn in tuple(subs):
            if conn.combined:
                if combined is None:
                    prefix = self._envelope_prefix.get(stream)
                    if prefix is None:
                        prefix = b'{"stream":' + _stream_bytes(stream) + b',"data":'
                        self._envelope_prefix[stream] = prefix
                    combined = prefix + payload + b"}"
                conn.push(stream, combined, keys)
            else:
                conn.push(stream, payload, keys)


# --- market sources ------------------------------------------------------------


class _Market:
    """What the REST endpoints read: contracts and the latest asset index entries."""

    contracts: dict[str, Contract]
    latest_assets: dict[str, AssetIndexUpdate]
    version: int

    async def ready(self) -> None:
        return None

    async def run(self, state: ServerState) -> None:
        raise NotImplementedError


class ScenarioMarket(_Market):
    def __init__(self, config: ServerConfig) -> None:
        start = config.start_ms if config.start_ms is not None else _now_ms(config.clock_offset_ms)
        self.scenario = Scenario(
            config.seed, start_ms=start, rate=config.rate, symbols=config.symbols
        )
        self.contracts = self.scenario.contracts
        self.latest_assets = self.scenario.latest_assets
        self.version = 0
        self._asset_streams = {s: s.lower() + ASSET_STREAM_SUFFIX for s in self.latest_assets}

    async def run(self, state: ServerState) -> None:
        interval = self.scenario.interval_ms
        offset = state.config.clock_offset_ms
        # Ticks sit on the server clock's grid: at 1 Hz every E is a whole
        # second, as on the exchange.
        target = (_now_ms(offset) // interval + 1) * interval
        while True:
            delay = (target - _now_ms(offset)) / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            self.publish(state.hub, self.scenario.tick(target))
            target += interval
            behind = _now_ms(offset) - target
            if behind > 5 * interval:
                # The loop was blocked: skip the missed ticks rather than burst them.
                target += (behind // interval) * interval

    def publish(self, hub: Hub, tick: Tick) -> None:
        self.latest_assets = self.scenario.latest_assets
        if tick.contracts:
            self.version += 1
        if hub.wanted(ASSET_INDEX_ALL):
            hub.publish(ASSET_INDEX_ALL, encode(tick.assets))
        for entry in tick.assets:
            stream = self._asset_streams.get(entry.s) or entry.s.lower() + ASSET_STREAM_SUFFIX
            if hub.wanted(stream):
                hub.publish(stream, encode(entry))
        if tick.contracts and hub.wanted(CONTRACT_INFO):
            for event in tick.contracts:
                hub.publish(CONTRACT_INFO, encode(event))


class _RecordLine(msgspec.Struct):
    recv_time: int
    stream: str
    data: msgspec.Raw


class _LenientBracket(msgspec.Struct):
    bs: int
    bnf: Decimal
    bnc: Decimal
    mmr: Decimal
    cf: Decimal
    ma: int
    mi: int | None = None


class _LenientContract(msgspec.Struct):
    s: str
    E: int = 0
    ps: str | None = None
    ct: str | None = None
    dt: int | None = None
    ot: int | None = None
    cs: str | None = None
    st: int | None = None
    bks: list[_LenientBracket] | None = None


class _Symbol(msgspec.Struct):
    s: str


class _StreamOnly(msgspec.Struct):
    stream: str


_RECORD = msgspec.json.Decoder(_RecordLine)
_CONTRACT = msgspec.json.Decoder(_LenientContract)
_ASSETS = msgspec.json.Decoder(list[AssetIndexUpdate] | AssetIndexUpdate)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_SYMBOL = msgspec.json.Decoder(_Symbol)
_STREAM_ONLY = msgspec.json.Decoder(_StreamOnly)

_QUOTES: Final = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "USD")


def _split_symbol(symbol: str, pair: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote
    return pair, "USDT"


def open_recording(path: str | Path) -> IO[bytes] | gzip.GzipFile:
    if str(path).endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


class ReplayMarket(_Market):
    """Serves a recording (``binmon record`` format) with its original timing."""

    def __init__(self, config: ServerConfig) -> None:
        assert config.from_file is not None
        self.path = Path(config.from_file)
        self.speed = config.speed
        self.contracts = {}
        self.latest_assets = {}
        self.version = 0
        self.recorded_streams: set[str] = set()
        self.skipped = 0
        self._scanned: asyncio.Future[None] | None = None

    def _lines(self) -> Iterator[_RecordLine]:
        with open_recording(self.path) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    yield _RECORD.decode(line)
                except msgspec.DecodeError:
                    self.skipped += 1

    def _prescan(self) -> None:
        # exchangeInfo must list every symbol before its first event is
        # replayed, as the real one would: it starts from each symbol's first state.
        with open_recording(self.path) as f:
            for line in f:
                try:
                    stream = _STREAM_ONLY.decode(line).stream
                except msgspec.DecodeError:
                    continue
                self.recorded_streams.add(stream)
                if stream == CONTRACT_INFO:
                    self._apply_contract(bytes(_RECORD.decode(line).data), first_only=True)
                elif not self.latest_assets and stream.endswith(ASSET_STREAM_SUFFIX[1:]):
                    self._apply_assets(bytes(_RECORD.decode(line).data))

    async def ready(self) -> None:
        if self._scanned is None:
            self._scanned = asyncio.ensure_future(asyncio.to_thread(self._prescan))
        await asyncio.shield(self._scanned)

    def _apply_contract(self, data: bytes, *, first_only: bool = False) -> None:
        try:
            event = _CONTRACT.decode(data)
        except msgspec.DecodeError:
            return
        known = self.contracts.get(event.s)
        if known is not None and first_only:
            return
        if known is None:
            pair = event.ps or event.s.split("_")[0]
            base, quote = _split_symbol(event.s, pair.removesuffix("_PERP"))
            market = event.st or UM
            known = Contract(
                symbol=event.s,
                pair=pair,
                contract_type=event.ct or "PERPETUAL",
                delivery_ms=event.dt or PERPETUAL_DELIVERY_MS,
                onboard_ms=event.ot or event.E,
                status=event.cs or "TRADING",
                base=base,
                quote=quote,
                margin=base if market == CM else quote,
                underlying="COIN",
                market=market,
                rungs=[],
                brackets=[],
            )
            self.contracts[event.s] = known
        else:
            known.pair = event.ps or known.pair
            known.contract_type = event.ct or known.contract_type
            known.delivery_ms = event.dt or known.delivery_ms
            known.onboard_ms = event.ot or known.onboard_ms
            known.status = event.cs or known.status
            known.market = event.st or known.market
        # An empty bks list says nothing about brackets.
        if event.bks:
            known.brackets = [
                BracketWire(
                    b.bs, int(b.bnf), int(b.bnc), b.mmr, b.cf, b.mi if b.mi is not None else 1, b.ma
                )
                for b in event.bks
            ]
        self.version += 1

    def _apply_assets(self, data: bytes) -> None:
        try:
            decoded = _ASSETS.decode(data)
        except msgspec.DecodeError:
            return
        for entry in decoded if isinstance(decoded, list) else [decoded]:
            self.latest_assets[entry.s] = entry

    async def run(self, state: ServerState) -> None:
        await self.ready()
        hub = state.hub
        # A recording has a beginning: start it when someone is listening,
        # not while the client is still being started.
        await hub.first_subscriber.wait()
        state.log(f"replaying {self.path.name} at {self.speed:g}x")
        loop = asyncio.get_running_loop()
        started: float | None = None
        first_recv = 0
        lines = self._lines()
        while True:
            # Reading is quick and line-sized; a thread hop per line would cost more.
            rec = next(lines, None)
            if rec is None:
                break
            if started is None:
                started, first_recv = loop.time(), rec.recv_time
            due = started + (rec.recv_time - first_recv) / 1000 / self.speed
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            data = bytes(rec.data)
            if rec.stream == CONTRACT_INFO:
                self._apply_contract(data)
            elif rec.stream.endswith(ASSET_STREAM_SUFFIX) or rec.stream == ASSET_INDEX_ALL:
                self._apply_assets(data)
            hub.publish(rec.stream, data)
            if rec.stream == ASSET_INDEX_ALL:
                self._publish_derived(hub, data)
            if delay <= 0.001:
                # Catching up: still let connections and REST in now and then.
                await asyncio.sleep(0)
        state.log(f"recording {self.path.name} finished ({self.skipped} bad lines skipped)")

    def _publish_derived(self, hub: Hub, data: bytes) -> None:
        """Serve ``<asset>@assetIndex`` from ``!assetIndex@arr`` when it was not recorded itself."""
        try:
            elements = _RAW_LIST.decode(data)
        except msgspec.DecodeError:
            return
        for element in elements:
            try:
                symbol = _SYMBOL.decode(element).s
            except msgspec.DecodeError:
                continue
            stream = symbol.lower() + ASSET_STREAM_SUFFIX
            if stream not in self.recorded_streams and hub.wanted(stream):
                hub.publish(stream, bytes(element))


# --- server state ------------------------------------------------------------------


@dataclass
class _Weight:
    minute: int = 0
    used: int = 0


class ServerState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.hub = Hub(keys=config.sent_log is not None)
        self.connections: set[Connection] = set()
        # Opened while the application runs (see _sent_log_file).
        self.sent_log: SentLog | None = None
        self._connection_ids = 0
        self.market: _Market = (
            ReplayMarket(config) if config.from_file is not None else ScenarioMarket(config)
        )
        self._weight = _Weight()
        self._symbols_cache: tuple[int, list[dict[str, Any]]] | None = None

    def log(self, line: str) -> None:
        if self.config.log is not None:
            self.config.log(line)

    def next_connection_id(self) -> int:
        self._connection_ids += 1
        return self._connection_ids

    def fault(self, conn: Connection, what: str, line: str) -> None:
        """An injected fault: one line on the log, one event in the sent log."""
        self.log(f"{conn.peer}: fault: {line}")
        if self.sent_log is not None:
            self.sent_log.event(conn.id, "fault", what=what)

    def cut_off(self, conn: Connection, why: str) -> None:
        # Not injected, but an abort all the same: frames counted as sent may
        # never have left, and a reader of the sent log must know.
        if self.sent_log is not None:
            self.sent_log.event(conn.id, "fault", what=why)

    def now_ms(self) -> int:
        return _now_ms(self.config.clock_offset_ms)

    def use_weight(self, weight: int) -> int:
        minute = int(time.time() // 60)
        if minute != self._weight.minute:
            self._weight = _Weight(minute)
        self._weight.used += weight
        return self._weight.used

    def symbols_json(self) -> list[dict[str, Any]]:
        market = self.market
        if self._symbols_cache is None or self._symbols_cache[0] != market.version:
            symbols = [_symbol_json(c) for c in market.contracts.values()]
            self._symbols_cache = (market.version, symbols)
        return self._symbols_cache[1]


STATE_KEY: Final = web.AppKey("binmon_state", ServerState)


# --- WebSocket ---------------------------------------------------------------------


# Pings and pongs count toward the limit too, as on the exchange.
_COUNTED: Final = frozenset({WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG})


def _error(code: int, msg: str, req_id: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "msg": msg}
    if req_id is not None:
        out["id"] = req_id
    return out


def _valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID


def handle_control(conn: Connection, text: str) -> dict[str, Any]:
    """The reply to one control message, exactly as the exchange words it."""
    try:
        request = json.loads(text)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            detail = f"{exc.msg[0].lower()}{exc.msg[1:]} at line {exc.lineno} column {exc.colno}"
        else:
            detail = str(exc)
        return _error(3, f"Invalid JSON: {detail}", None)
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected an object", None)
    req_id = request.get("id")
    if not _valid_id(req_id):
        return _error(2, _BAD_ID, None)
    assert isinstance(req_id, int)
    if "method" not in request:
        return _error(2, "Invalid request: missing field `method`", req_id)
    method = request["method"]
    if not isinstance(method, str) or method not in _METHODS:
        return _error(2, _UNKNOWN_METHOD.format(method), req_id)
    if set(request) - {"method", "params", "id"}:
        return _error(2, "Invalid request: too many parameters", req_id)
    params = request.get("params")
    if params is not None and not isinstance(params, list):
        return _error(2, "Invalid request: params must be an array", req_id)
    params = params or []

    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(p, str) and _STREAM_RE.fullmatch(p) for p in params):
            return _error(2, "Invalid request: invalid stream", req_id)
        if method == "SUBSCRIBE":
            new = [p for p in dict.fromkeys(params) if p not in conn.streams]
            if len(conn.streams) + len(new) > conn.state.config.max_streams:
                return _error(2, "Invalid request: too many streams", req_id)
            for stream in new:
                conn.subscribe(stream)
        else:
            for stream in params:
                conn.unsubscribe(stream)
        return {"result": None, "id": req_id}
    if method == "LIST_SUBSCRIPTIONS":
        if params:
            return _error(2, "Invalid request: too many parameters", req_id)
        return {"result": list(conn.streams), "id": req_id}
    # SET_PROPERTY / GET_PROPERTY
    if not params or not isinstance(params[0], str):
        return _error(2, "Invalid request: property name must be a string", req_id)
    if len(params) > (2 if method == "SET_PROPERTY" else 1):
        return _error(2, "Invalid request: too many parameters", req_id)
    if params[0] != "combined":
        return _error(0, "Unknown property", req_id)
    if method == "GET_PROPERTY":
        return {"result": conn.combined, "id": req_id}
    if len(params) < 2 or not isinstance(params[1], bool):
        return _error(1, "Invalid value type: expected Boolean", req_id)
    conn.combined = params[1]
    return {"result": None, "id": req_id}


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


# --- REST --------------------------------------------------------------------------


def _api_error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _json(state: ServerState, obj: Any, weight: int) -> web.Response:
    return web.Response(
        body=encode(obj),
        content_type="application/json",
        headers={"X-MBX-USED-WEIGHT-1M": str(state.use_weight(weight))},
    )


_AUTO_EXCHANGE: Final = {
    "USDT": "-10000",
    "BTC": "-0.00100000",
    "ETH": "-0.00100000",
    "BNB": "-0.00100000",
    "USDC": "-10000",
    "BNFCR": "-10000",
}


_ORDER_TYPES: Final = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def _rate_limit(kind: str, interval: str, num: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}


def _symbol_json(c: Contract) -> dict[str, Any]:
    return {
        "symbol": c.symbol,
        "pair": c.pair,
        "contractType": c.contract_type,
        "deliveryDate": c.delivery_ms,
        "onboardDate": c.onboard_ms,
        "status": c.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": c.base,
        "quoteAsset": c.quote,
        "marginAsset": c.margin,
        "pricePrecision": 2 if c.base in ("BTC", "ETH") else 4,
        "quantityPrecision": 3 if c.base in ("BTC", "ETH") else 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": c.underlying,
        "underlyingSubType": list(c.subtypes),
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "orderTypes": _ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


async def time_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return _json(state, {"serverTime": state.now_ms()}, 1)


async def exchange_info_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.market.ready()
    assets = [
        {
            "asset": symbol.removesuffix("USD"),
            "marginAvailable": True,
            "autoAssetExchange": _AUTO_EXCHANGE.get(symbol.removesuffix("USD"), "0"),
        }
        for symbol in state.market.latest_assets
    ]
    body = {
        "timezone": "UTC",
        "serverTime": state.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            _rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
            _rate_limit("ORDERS", "MINUTE", 1, 1200),
            _rate_limit("ORDERS", "SECOND", 10, 300),
        ],
        "exchangeFilters": [],
        "assets": assets,
        "symbols": state.symbols_json(),
    }
    return _json(state, body, 1)


def _asset_json(a: AssetIndexUpdate) -> dict[str, Any]:
    return {
        "symbol": a.s,
        "time": a.E,
        "index": a.i,
        "bidBuffer": a.b,
        "askBuffer": a.a,
        "bidRate": a.B,
        "askRate": a.A,
        "autoExchangeBidBuffer": a.q,
        "autoExchangeAskBuffer": a.g,
        "autoExchangeBidRate": a.Q,
        "autoExchangeAskRate": a.G,
    }


async def asset_index_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.market.ready()
    symbol = request.query.get("symbol")
    latest = state.market.latest_assets
    if symbol is None:
        return _json(state, [_asset_json(a) for a in latest.values()], 10)
    entry = latest.get(symbol.upper())
    if entry is None:
        return _api_error(400, -1121, "Invalid symbol.")
    return _json(state, _asset_json(entry), 1)


def _cum(value: Decimal) -> Decimal:
    # The REST endpoint writes cum as a double: 0.0, 500.0, 72.5.
    if value == value.to_integral_value():
        return Decimal(f"{int(value)}.0")
    return value


def _brackets_json(c: Contract) -> dict[str, Any]:
    brackets = c.brackets or build_brackets(ladder_rungs("small", 5000))
    return {
        "symbol": c.symbol,
        "brackets": [
            {
                "bracket": b.bs,
                "initialLeverage": b.ma,
                "notionalCap": b.bnc,
                "notionalFloor": b.bnf,
                "maintMarginRatio": b.mmr,
                "cum": _cum(b.cf),
            }
            for b in brackets
        ],
    }


def _int_param(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 20 else None


def check_signed(request: web.Request, config: ServerConfig, now_ms: int) -> web.Response | None:
    """Binance's checks for a USER_DATA request; an error response, or None when it passes."""
    key = request.headers.get("X-MBX-APIKEY")
    if not key or not key.isascii() or not key.isalnum():
        return _api_error(401, -2014, "API-key format invalid.")
    if key != config.api_key:
        return _api_error(401, -2015, "Invalid API-key, IP, or permissions for action.")
    raw = request.rel_url.raw_query_string
    parts = raw.split("&") if raw else []
    signatures = [p for p in parts if p.startswith("signature=")]
    params = request.query
    if "timestamp" not in params or not params["timestamp"]:
        return _api_error(400, -1102, _MANDATORY.format("timestamp"))
    if len(signatures) != 1 or signatures[0] == "signature=":
        return _api_error(400, -1102, _MANDATORY.format("signature"))
    # The signature covers the exact query text sent, minus the signature itself.
    signed = "&".join(p for p in parts if not p.startswith("signature="))
    if not verify(signed, signatures[0].removeprefix("signature="), config.api_secret):
        return _api_error(400, -1022, "Signature for this request is not valid.")
    timestamp = _int_param(params["timestamp"])
    if timestamp is None:
        return _api_error(400, -1100, _ILLEGAL.format("timestamp"))
    recv_window = _RECV_WINDOW_DEFAULT
    if "recvWindow" in params:
        parsed = _int_param(params["recvWindow"])
        if parsed is None:
            return _api_error(400, -1100, _ILLEGAL.format("recvWindow"))
        if parsed > _RECV_WINDOW_MAX:
            return _api_error(400, -1131, "recvWindow must be less than 60000")
        recv_window = parsed
    if timestamp >= now_ms + 1000:
        return _api_error(400, -1021, _AHEAD)
    if now_ms - timestamp > recv_window:
        return _api_error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return None


async def leverage_bracket_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    problem = check_signed(request, state.config, state.now_ms())
    if problem is not None:
        return problem
    await state.market.ready()
    contracts = state.market.contracts
    symbol = request.query.get("symbol")
    if symbol is None:
        return _json(state, [_brackets_json(c) for c in contracts.values()], 1)
    contract = contracts.get(symbol.upper())
    if contract is None:
        return _api_error(400, -1121, "Invalid symbol.")
    return _json(state, _brackets_json(contract), 1)


# --- application ---------------------------------------------------------------------


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
