"""One self-healing WebSocket stream connection (aiohttp).

- reconnects forever with capped exponential backoff and full jitter; the
  backoff resets once a connection has proved healthy;
- a watchdog recycles a periodic stream (asset index, 1 s) that goes silent,
  which also catches the exchange's "acknowledge, then send nothing" trap;
  an event-driven stream (contract info) may be silent for hours, so only
  transport-level pings judge it;
- rotation before Binance's 24 h cut: the replacement is opened first and the
  old connection closed only once the new one has caught up, so nothing is
  lost; the consumer drops the overlap's duplicates (the protocol is the
  state object in binmon.rotation; this module only carries it out);
- HTTP 451, 401/403 on the upgrade and invalid URLs are fatal; anything
  else is retried. Every state change is one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol

import aiohttp
import yarl

from binmon.defaults import MAX_CONNECTION_AGE, STALE_AFTER
from binmon.diag import Diagnostics, printable
from binmon.errors import FatalConnectionError
from binmon.proxy import env_proxy
from binmon.rest import bounded_retry_after, describe, fatal_http_status
from binmon.rotation import Phase, Rotation
from binmon.status import StreamStatus

OnMessage = Callable[[bytes | str], None]


class Backpressure(Protocol):
    """The consumer's say in how fast we read (see :mod:`binmon.output`)."""

    @property
    def backlogged(self) -> bool: ...

    async def drained(self) -> None: ...


_ENDINGS = frozenset(
    {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSING,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    }
)


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    # A connection that delivered data and served this long (rotations
    # included) counts as healthy.
    healthy_after: float = 10.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * self.factor**self.attempt)
        self.attempt += 1
        # "Full jitter", floored at half so retries never bunch at zero.
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class ConnectionSettings:
    stale_after: float = STALE_AFTER
    max_age: float = MAX_CONNECTION_AGE
    heartbeat: float = 30.0
    connect_timeout: float = 10.0
    # Largest frame accepted. Real frames stay under 20 KB; a bigger one is a
    # broken or hostile server, and reading it whole would cost memory.
    max_frame: int = 1 << 20
    # How long a fresh replacement of an event-driven stream must stay open
    # before it takes over: it cannot prove itself with data.
    takeover_grace: float = 1.0


class _Leg:
    """One physical WebSocket connection."""

    _ids = count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, opened_at: float) -> None:
        self.id = next(self._ids)
        self.ws = ws
        self.opened_at = opened_at
        self.last_message_at = opened_at
        self.got_data = False
        self.retired = False
        self.stale = False
        # Reading is paused because our own output is not being consumed:
        # the silence that follows is ours, not the server's.
        self.paused = False
        self.resumed_at: float | None = None
        # A replacement's messages go to its rotation until it takes over.
        self.held_by: Rotation[_Leg] | None = None


class Connection:
    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        on_message: OnMessage,
        status: StreamStatus,
        diag: Diagnostics,
        *,
        periodic: bool,
        settings: ConnectionSettings | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        fallback_url: str | None = None,
        backpressure: Backpressure | None = None,
    ) -> None:
        self.url = _ws_url(url)
        # Tried in turn with `url` when a periodic stream stays silent from
        # the start (the testnet may still serve only the legacy paths).
        self.fallback_url = None if fallback_url is None else _ws_url(fallback_url)
        self.session = session
        self.on_message = on_message
        self.status = status
        self.status.url = str(self.url)
        self.diag = diag
        self.periodic = periodic
        self.settings = settings or ConnectionSettings()
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.backpressure = backpressure
        # URLs that have delivered data in this run: a later silence there is
        # an outage, not the wrong-path trap.
        self.delivered_from: set[str] = set()
        # Set while _serve sleeps: anything that may make a timer or a
        # handover due sooner wakes it (see _wake).
        self._wakeup: asyncio.Future[None] | None = None
        self._wake_on_message = False

    # -- public -----------------------------------------------------------

    async def run(self) -> None:
        """Stream until cancelled; raises :class:`FatalConnectionError`."""
        try:
            while True:
                leg = await self._open_with_retry()
                reason = await self._serve(leg)
                self.status.connected_since = None
                delay = self.backoff.next_delay()
                self._set_state("reconnecting", reason, delay)
                await asyncio.sleep(delay)
        finally:
            self.status.state = "stopped"

    # -- internals --------------------------------------------------------

    def _set_state(self, state: str, reason: str | None = None, delay: float | None = None) -> None:
        self.status.state = state
        self.status.reason = reason
        self.status.next_retry_at = None if delay is None else self.clock() + delay
        name = self.status.name
        if state == "reconnecting":
            self.status.reconnects += 1
            self.diag.info(f"{name}: {reason}; reconnecting in {delay:.1f}s")
        elif state == "connected":
            self.diag.info(f"{name}: connected to {self.url}")

    async def _connect(self) -> _Leg:
        proxy, proxy_auth = env_proxy(self.url)
        try:
            ws = await self.session.ws_connect(
                self.url,
                proxy=proxy,
                proxy_auth=proxy_auth,
                heartbeat=self.settings.heartbeat,
                autoping=True,
                max_msg_size=self.settings.max_frame,
                # A server that does not answer our close within a second is
                # not worth waiting for: the next connection is.
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                compress=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            fatal = fatal_http_status(exc.status, f"WebSocket upgrade to {self.url}")
            if fatal:
                raise fatal from None
            raise Refused(exc.status, _retry_after(exc.headers)) from None
        except aiohttp.InvalidURL as exc:
            raise FatalConnectionError(f"invalid URL {self.url}: {exc}") from None
        return _Leg(ws, self.clock())

    async def _open_with_retry(self) -> _Leg:
        while True:
            self.status.state = "connecting" if self.status.reconnects == 0 else "reconnecting"
            try:
                async with asyncio.timeout(self.settings.connect_timeout):
                    leg = await self._connect()
            except FatalConnectionError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError) as exc:
                delay = self.backoff.next_delay()
                if isinstance(exc, Refused) and exc.retry_after is not None:
                    # Rate limited or banned (429/418): reconnecting sooner
                    # only prolongs an IP ban.
                    delay = max(delay, exc.retry_after)
                self._set_state("reconnecting", describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            self.status.url = str(self.url)
            self.status.connected_since = leg.opened_at
            self.status.last_message_at = None
            self.status.rotation_at = leg.opened_at + self.settings.max_age
            self._set_state("connected")
            return leg

    async def _read(self, leg: _Leg) -> str:
        """Pump one leg's messages into ``on_message``; return why it ended."""
        reason = await self._pump(leg)
        if leg.resumed_at is not None and (
            self.clock() - leg.resumed_at < 2 * self.settings.heartbeat
        ):
            # Whatever ended it (our heartbeat, or a server dropping a client
            # that stopped reading), our own paused reader is the likely cause.
            reason += " (after reading was paused: the output was not being read)"
        return reason

    async def _pump(self, leg: _Leg) -> str:
        ws = leg.ws
        on_message = self.on_message
        status = self.status
        clock = self.clock
        backpressure = self.backpressure
        while True:
            if backpressure is not None and backpressure.backlogged:
                await self._pause(leg, backpressure)
            msg = await ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                now = clock()
                leg.last_message_at = now
                if not leg.got_data:
                    leg.got_data = True
                    self.delivered_from.add(str(self.url))
                if leg.retired:
                    continue
                if leg.held_by is not None:
                    leg.held_by.hold(msg.data)
                else:
                    status.message(now)
                    on_message(msg.data)
                if self._wake_on_message:
                    self._wake()
            elif kind in _ENDINGS:
                if leg.stale:
                    if not leg.got_data and str(self.url) not in self.delivered_from:
                        return "connected, but no data ever arrived (wrong path?)"
                    return f"no data for {self.settings.stale_after:g}s"
                if kind is aiohttp.WSMsgType.ERROR:
                    return self._error_reason(msg.data, leg)
                if isinstance(ws.exception(), aiohttp.ServerTimeoutError):
                    # The heartbeat failed while we were not waiting (reading paused).
                    return self._error_reason(ws.exception(), leg)
                return _close_reason(ws.close_code, msg.extra if kind is _CLOSE else None)

    def _error_reason(self, error: object, leg: _Leg) -> str:
        if isinstance(error, aiohttp.WebSocketError) and error.code == _TOO_BIG:
            # The frame is lost; say so as loudly as any other skipped frame.
            self.status.malformed += 1
            limit = self.settings.max_frame
            self.diag.warn(
                f"{self.status.name}: skipped a frame larger than the {_size(limit)} limit "
                "(the connection cannot be resumed after it)",
                key=f"too-big-{self.status.name}",
            )
            return f"frame larger than the {_size(limit)} limit"
        if isinstance(error, aiohttp.ServerTimeoutError):
            return f"no pong to our ping within {self.settings.heartbeat / 2:g}s"
        return f"connection error: {describe(error)}"

    async def _pause(self, leg: _Leg, backpressure: Backpressure) -> None:
        started = self.clock()
        self.diag.warn(
            f"{self.status.name}: output is not being read; reading paused until it drains",
            key="output-blocked",
        )
        leg.paused = True
        self.status.pauses += 1
        try:
            await backpressure.drained()
        finally:
            leg.paused = False
            leg.last_message_at = leg.resumed_at = self.clock()
            self._wake()  # the silence watchdog starts again from now
        self.diag.debug(f"{self.status.name}: output drained after {self.clock() - started:.1f}s")

    # -- serving one connection and its replacements ------------------------

    async def _serve(self, leg: _Leg) -> str:
        """Serve ``leg`` (and its replacements after rotations) until one drops.

        Event-driven: it sleeps until a connection ends, the replacement
        connects, or the earliest of its timers (silence, rotation due, the
        rotation's own deadline) comes due on ``self.clock``.
        """
        s = _Service(leg, asyncio.create_task(self._read(leg)))
        try:
            while True:
                await self._wait(s)
                now = self.clock()
                reason = self._observe(s, now)
                if reason is not None:
                    return reason
                if self._due_stale(s, now):
                    # Mid-rotation too: the replacement then takes over at once.
                    self._stale(s.leg)
                    await s.leg.ws.close()
                    continue
                if s.rotation is None:
                    rotate_at = self.status.rotation_at or s.leg.opened_at + self.settings.max_age
                    if now >= rotate_at:
                        self._start_rotation(s, now)
                    continue
                phase = s.rotation.step(now, self.status.last_event_time_ms)
                if phase is Phase.SWITCHED:
                    self._switch(s)
                elif phase is Phase.FAILED:
                    ended = self._give_up(s, now)
                    if ended is not None:
                        return ended
        finally:
            await self._close_service(s)

    async def _wait(self, s: _Service) -> None:
        """Until something happens to a connection, or the next timer is due."""
        now = self.clock()
        timers = []
        leg = s.leg
        if self._watched(s):
            timers.append(leg.last_message_at + self.settings.stale_after)
        if s.rotation is None:
            timers.append(self.status.rotation_at or leg.opened_at + self.settings.max_age)
        else:
            deadline = s.rotation.deadline()
            if deadline is not None:
                timers.append(deadline)
        timeout = None if not timers else max(0.0, min(timers) - now)
        # A periodic stream's catch-up shows in the messages themselves: each
        # one wakes us while a replacement waits to take over.
        catching_up = s.rotation is not None and s.rotation.phase is Phase.CATCHING_UP
        self._wake_on_message = catching_up and self.periodic
        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        # Each task is waited for until its outcome has been taken in (_observe).
        reader = s.reader if s.ended is None else None
        tasks = {t for t in (reader, s.spare_reader, s.connecting) if t is not None}
        try:
            await asyncio.wait(
                {wakeup, *tasks},
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._wakeup = None
            self._wake_on_message = False
            wakeup.cancel()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _observe(self, s: _Service, now: float) -> str | None:
        """Take in what happened to the connections; the reason to reconnect, if it is time."""
        self._judge_health(s, now)
        if s.connecting is not None and s.connecting.done():
            self._replacement_connected(s, now)
        if s.spare_reader is not None and s.spare_reader.done():
            # Connection problems are returned; an exception is the consumer's.
            error = s.spare_reader.exception()
            if error is not None:
                raise error
            s.spare_reader = None
            assert s.rotation is not None
            s.rotation.closed()
        if s.reader.done() and s.ended is None:
            s.ended = s.reader.result()
            if s.rotation is None:
                return s.ended
            s.rotation.old_connection_ended()
        return None

    def _judge_health(self, s: _Service, now: float) -> None:
        # Health is judged across rotations: a stream that keeps delivering
        # through frequent replacements is healthy, however young each one is.
        if s.leg.got_data and now - s.serving_since >= self.backoff.healthy_after:
            self.backoff.reset()

    def _watched(self, s: _Service) -> bool:
        """Is the current connection's silence being timed? (Not while we pause it.)"""
        leg = s.leg
        return self.periodic and not leg.paused and not leg.stale and s.ended is None

    def _due_stale(self, s: _Service, now: float) -> bool:
        return self._watched(s) and now >= s.leg.last_message_at + self.settings.stale_after

    def _start_rotation(self, s: _Service, now: float) -> None:
        """Open the replacement first; it takes over once it has caught up."""
        self.diag.info(f"{self.status.name}: rotating the connection (age limit)")
        settings = self.settings
        s.rotation = Rotation(
            now,
            periodic=self.periodic,
            connect_timeout=settings.connect_timeout,
            stale_after=settings.stale_after,
            takeover_grace=settings.takeover_grace,
        )
        s.connecting = asyncio.create_task(self._connect())

    def _replacement_connected(self, s: _Service, now: float) -> None:
        connecting, s.connecting = s.connecting, None
        assert connecting is not None and s.rotation is not None
        error = connecting.exception()
        if error is None:
            spare = connecting.result()
            spare.held_by = s.rotation
            s.rotation.connected(spare, now)
            s.spare_reader = asyncio.create_task(self._read(spare))
        elif isinstance(error, FatalConnectionError):
            raise error
        else:
            s.rotation.connect_failed(describe(error))

    def _switch(self, s: _Service) -> None:
        """The replacement takes over: deliver what it holds, retire the old connection."""
        rotation, s.rotation = s.rotation, None
        assert rotation is not None and rotation.replacement is not None
        assert s.spare_reader is not None
        old, old_reader = s.leg, s.reader
        old.retired = True
        # Switch first, then say goodbye to the old connection in the
        # background: its close handshake must not hold up data.
        s.retire(_retire(old, old_reader))
        s.leg, s.reader, s.spare_reader, s.ended = rotation.replacement, s.spare_reader, None, None
        s.leg.held_by = None
        self._deliver(rotation.held)
        self.status.state = "connected"  # the old one may have gone stale meanwhile
        self.status.connected_since = s.leg.opened_at
        self.status.rotation_at = s.leg.opened_at + self.settings.max_age
        self.status.rotations += 1
        self.diag.info(f"{self.status.name}: switched to the new connection")

    def _give_up(self, s: _Service, now: float) -> str | None:
        """The rotation failed: keep what the replacement got; the old reason if it ended too."""
        rotation, s.rotation = s.rotation, None
        assert rotation is not None
        if s.connecting is not None:
            s.retire(_discard(s.connecting))
            s.connecting = None
        spare = rotation.replacement
        if spare is not None:
            spare.held_by = None
            spare.retired = True
            if s.spare_reader is not None:
                s.retire(_retire(spare, s.spare_reader))
                s.spare_reader = None
        self._deliver(rotation.held)
        self.status.failed_rotations += 1
        if rotation.old_ended:
            return s.ended
        delay = self.backoff.next_delay()
        self.status.rotation_at = now + delay
        self.diag.info(
            f"{self.status.name}: {rotation.reason}; "
            f"keeping the current connection, retrying in {delay:.1f}s"
        )
        return None

    def _deliver(self, held: list[bytes | str]) -> None:
        now = self.clock()
        for data in held:
            # Repeats of what the old connection delivered are dropped downstream.
            self.status.message(now)
            self.on_message(data)

    async def _close_service(self, s: _Service) -> None:
        for goodbye in tuple(s.closing):
            goodbye.cancel()
        for task in (s.reader, s.spare_reader, s.connecting):
            if task is None:
                continue
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                # Seen here, so never reported as "never retrieved": the
                # cause (a consumer error) reaches the runner by its own path.
                task.exception()
        unused = None
        connecting = s.connecting
        if (
            connecting is not None
            and connecting.done()
            and not connecting.cancelled()
            and connecting.exception() is None
        ):
            # Connected as we were leaving: never adopted, still ours to close.
            unused = connecting.result()
        spare = None if s.rotation is None else s.rotation.replacement
        for candidate in (s.leg, spare, unused):
            if candidate is not None and not candidate.ws.closed:
                await _close(candidate.ws)

    def _stale(self, leg: _Leg) -> None:
        self.status.state = "stale"
        self.status.silences += 1
        leg.stale = True
        if not leg.got_data and str(self.url) not in self.delivered_from:
            self._silent_from_the_start()
            if self.fallback_url is not None:
                self.url, self.fallback_url = self.fallback_url, self.url
                self.diag.info(f"{self.status.name}: silent from the start; next try {self.url}")

    def _silent_from_the_start(self) -> None:
        # The exchange's trap: an unrouted or retired path accepts the
        # connection (and acknowledges SUBSCRIBE) and then sends nothing.
        self.status.silent_connects += 1
        self.diag.warn(
            f"{self.status.name}: the server accepted the connection but sent no data in "
            f"{self.settings.stale_after:g}s ({self.status.silent_connects} time(s)); Binance "
            f"does this on wrong or retired paths (streams live under /market since "
            f"2026-04-23): check --ws-url / BINMON_WS_URL ({self.url.origin()})",
            key=f"silent-ack-{self.status.name}",
        )


@dataclass
class _Service:
    """What ``Connection._serve`` juggles: the connection, its reader, a rotation in progress."""

    leg: _Leg
    reader: asyncio.Task[str]
    rotation: Rotation[_Leg] | None = None
    connecting: asyncio.Task[_Leg] | None = None
    spare_reader: asyncio.Task[str] | None = None
    # Why the current connection ended, once it has (a rotation may still save the stream).
    ended: str | None = None
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.serving_since = self.leg.opened_at

    def retire(self, goodbye: Coroutine[Any, Any, None]) -> None:
        """Close something in the background, cancelled if we stop first."""
        task = asyncio.create_task(goodbye)
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Close, bounded: aiohttp waits for the server's close frame a second at a time
    per message, so a server that keeps streaming and never answers would hold
    us forever. Cut short, the connection is dropped instead."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_WAIT):
            await ws.close()


async def _retire(leg: _Leg, reader: asyncio.Task[str]) -> None:
    await _close(leg.ws)
    with contextlib.suppress(Exception):
        await reader


async def _discard(connecting: asyncio.Task[_Leg]) -> None:
    """A replacement given up on while connecting: whatever it opens is closed."""
    connecting.cancel()
    try:
        leg = await connecting
    except (Exception, asyncio.CancelledError):
        return
    await _close(leg.ws)


def _ws_url(url: str) -> yarl.URL:
    try:
        parsed = yarl.URL(url, encoded=True)
        host, _ = parsed.host, parsed.port
    except (ValueError, TypeError) as exc:
        raise FatalConnectionError(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("ws", "wss") or not host or any(c.isspace() for c in url):
        raise FatalConnectionError(f"invalid WebSocket URL {url!r}")
    return parsed


class Refused(ConnectionError):
    """The WebSocket upgrade got an HTTP error that is worth retrying."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        hint = {
            404: " (wrong path?)",
            418: " (IP banned)",
            429: " (rate limited)",
            503: " (unavailable)",
        }.get(status, "")
        wait = "" if retry_after is None else f", Retry-After {retry_after:g}s"
        super().__init__(f"upgrade refused: HTTP {status}{hint}{wait}")
        self.status = status
        self.retry_after = retry_after


_CLOSE = aiohttp.WSMsgType.CLOSE
_CLOSE_WAIT = 2.0
_TOO_BIG = aiohttp.WSCloseCode.MESSAGE_TOO_BIG
_CLOSE_MEANINGS = {
    1000: "normal closure",
    1001: "going away",
    1006: "abnormal closure",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    1012: "service restart",
    1013: "try again later",
}


def _close_reason(code: int | None, message: object) -> str:
    if code is None or code == 1006:
        return "connection lost (no close frame)"
    text = f"closed by server (code {code}"
    meaning = _CLOSE_MEANINGS.get(code)
    if meaning:
        text += f", {meaning}"
    if message:
        # The server's words: shown, never interpreted.
        text += f": {printable(message, 80)}"
    return text + ")"


def _retry_after(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _key: None)("Retry-After")
    return bounded_retry_after(value, time.time())


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"
