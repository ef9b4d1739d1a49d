"""One WebSocket client of ``binmon serve``: subscriptions, send queue, pings, faults.

Each connection has its own queue and writer, so a slow client delays nobody
(it is disconnected when it falls too far behind, as the exchange does).
``--chaos`` and the other injected faults act here, per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec
from aiohttp import WSMsgType, web

from binmon.server.clock import now_ms
from binmon.server.faults import Faults
from binmon.server.hub import ASSET_INDEX_ALL, CONTRACT_INFO

if TYPE_CHECKING:
    from binmon.server.state import ServerState

# --chaos: the close codes a server may plausibly send (normal, going away, internal error).
CHAOS_CLOSE_CODES: Final = (1000, 1001, 1011)
CHAOS_KINDS: Final = ("drop", "close", "silent")
# After a chaos drop (FIN, no close frame) a peer that never closes its side
# is cut off after this long.
_HALF_CLOSED_GRACE: Final = 5.0


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
                "E": now_ms(self.state.config.clock_offset_ms),
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
            payload = str(now_ms(config.clock_offset_ms)).encode()
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
