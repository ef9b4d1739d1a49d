"""Rotation: replacing a stream connection before Binance's 24 h cut, losing and repeating nothing.

One :class:`Rotation` is one replacement, from opening the new connection to
the switch or to giving up::

    connecting ──connected──▶ catching up ──handover due──▶ switched
        │                          │
        └── error, timeout ──▶ failed ◀── closed early, silent

While catching up, the replacement holds what it receives; the old
connection keeps delivering until it has reached the replacement's first
event (so whatever it still had in flight is not lost), then the held
messages are delivered and the replacement takes over. Repeats from the
overlap are dropped downstream. Whatever happens, what the replacement
holds is delivered, never discarded.

The object is pure: the connection reports what happened (the replacement
connected, received a message, closed; the old connection ended) and calls
:meth:`Rotation.step` with the time of its injected clock; every wait is a
deadline on that clock (:meth:`Rotation.deadline`). So the protocol is
tested without sockets and without waiting.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

from binmon.protocol import first_event_time

L = TypeVar("L")


class Phase(enum.Enum):
    CONNECTING = "connecting replacement"
    CATCHING_UP = "catching up"
    SWITCHED = "switched"
    FAILED = "failed"


class Rotation(Generic[L]):
    """One replacement of a connection (``L`` is whatever stands for a connection).

    ``periodic``: the stream publishes all the time (asset index), so the
    replacement proves itself with data and the handover waits for the old
    connection to catch up, at most ``stale_after`` seconds. An event-driven
    stream (contract info) may be silent for hours: its replacement takes
    over once it has stayed open ``takeover_grace`` seconds.
    """

    def __init__(
        self,
        now: float,
        *,
        periodic: bool,
        connect_timeout: float,
        stale_after: float,
        takeover_grace: float,
    ) -> None:
        self.phase = Phase.CONNECTING
        self.started_at = now
        self.periodic = periodic
        self.connect_timeout = connect_timeout
        self.stale_after = stale_after
        self.takeover_grace = takeover_grace
        self.replacement: L | None = None
        self.opened_at: float | None = None
        # What the replacement received before taking over, in order, and
        # the event time it starts at.
        self.held: list[bytes | str] = []
        self.first_event_ms: int | None = None
        self.replacement_closed = False
        self.old_ended = False
        # Why it failed, as a clause for a log line.
        self.reason: str | None = None

    @property
    def done(self) -> bool:
        return self.phase in (Phase.SWITCHED, Phase.FAILED)

    # -- what happened ------------------------------------------------------

    def connected(self, replacement: L, now: float) -> None:
        """The replacement is open and subscribed: from now on it holds what it receives."""
        if self.phase is not Phase.CONNECTING:
            raise RuntimeError(f"connected while {self.phase.value}")
        self.replacement = replacement
        self.opened_at = now
        self.phase = Phase.CATCHING_UP

    def connect_failed(self, reason: str) -> None:
        if self.phase is Phase.CONNECTING:
            self._fail(f"replacement failed ({reason})")

    def hold(self, message: bytes | str) -> None:
        """A message the replacement received before taking over."""
        self.held.append(message)
        if self.first_event_ms is None:
            self.first_event_ms = first_event_time(message)

    def closed(self) -> None:
        """The replacement ended before taking over; what it holds is still delivered."""
        self.replacement_closed = True

    def old_connection_ended(self) -> None:
        """The connection being replaced dropped: its replacement is the natural successor."""
        self.old_ended = True

    # -- what is due ----------------------------------------------------------

    def deadline(self) -> float | None:
        """When :meth:`step` must run again even if nothing else happens.

        Every comparison with a deadline is ``now >= start + limit``, exactly
        the sum returned here: ``now - start >= limit`` can round the other way.
        """
        if self.phase is Phase.CONNECTING:
            return self.started_at + self.connect_timeout
        if self.phase is Phase.CATCHING_UP:
            assert self.opened_at is not None
            limit = self.stale_after if self.periodic else self.takeover_grace
            return self.opened_at + limit
        return None

    def step(self, now: float, delivered_ms: int | None) -> Phase:
        """Move on as far as ``now`` allows; ``delivered_ms``: the last event time delivered."""
        if self.phase is Phase.CONNECTING:
            if now >= self.started_at + self.connect_timeout:
                self._fail(f"replacement failed (no answer within {self.connect_timeout:g}s)")
        elif self.phase is Phase.CATCHING_UP:
            self._catch_up(now, delivered_ms)
        return self.phase

    def _catch_up(self, now: float, delivered_ms: int | None) -> None:
        assert self.opened_at is not None
        if self.old_ended or self._handover_due(now, delivered_ms):
            if self.replacement_closed:
                self._fail(
                    "the new connection closed before taking over (what it received is kept)"
                )
            else:
                self.phase = Phase.SWITCHED
        elif self.replacement_closed and not self.held:
            self._fail("the new connection closed before taking over")
        elif self.periodic and not self.held and now >= self.opened_at + self.stale_after:
            self._fail(f"the new connection sent no data in {self.stale_after:g}s")

    def _handover_due(self, now: float, delivered_ms: int | None) -> bool:
        """May the replacement take over without a gap?"""
        assert self.opened_at is not None
        if not self.periodic:
            # An event-driven stream cannot prove itself with data.
            return now >= self.opened_at + self.takeover_grace
        if not self.held:
            return False
        first = self.first_event_ms
        if first is not None and delivered_ms is not None and delivered_ms >= first:
            return True
        # An old connection that does not catch up is stuck: do not wait on it forever.
        return now >= self.opened_at + self.stale_after

    def _fail(self, reason: str) -> None:
        self.phase = Phase.FAILED
        self.reason = reason
