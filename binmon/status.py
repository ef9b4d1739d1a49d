"""Health of one stream connection, as the status line and stderr report it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StreamStatus:
    """Mutable health record, updated by the connection, read by the views.

    Times are ``time.monotonic()`` seconds unless the name says ``_ms``
    (exchange epoch milliseconds).
    """

    name: str
    url: str = ""
    state: str = "connecting"  # connecting | connected | reconnecting | stale | stopped
    reason: str | None = None
    next_retry_at: float | None = None
    connected_since: float | None = None
    last_message_at: float | None = None
    last_event_time_ms: int | None = None
    messages: int = 0
    reconnects: int = 0
    malformed: int = 0
    # Connections accepted that never delivered anything (periodic streams).
    silent_connects: int = 0
    # Connections left because they fell silent (no data for stale_after).
    silences: int = 0
    # Times reading was paused because the output was not being consumed.
    pauses: int = 0
    rotation_at: float | None = None
    # Rotations: replacements that took over, and those given up (closed or
    # silent before taking over, or not connected in time).
    rotations: int = 0
    failed_rotations: int = 0
    # Messages per second, an exponentially weighted moving average.
    rate: float = 0.0
    _rate_window_start: float = field(default_factory=time.monotonic)
    _rate_window_count: int = 0

    def message(self, now: float, count: int = 1) -> None:
        self.messages += count
        self.last_message_at = now
        self._rate_window_count += count
        elapsed = now - self._rate_window_start
        if elapsed >= 1.0:
            current = self._rate_window_count / elapsed
            self.rate = current if self.rate == 0.0 else 0.5 * self.rate + 0.5 * current
            self._rate_window_start, self._rate_window_count = now, 0

    def lag_ms(self, now_ms: float | None = None) -> float | None:
        """Event lag: wall clock minus the last event's ``E``."""
        if self.last_event_time_ms is None:
            return None
        return (now_ms if now_ms is not None else time.time() * 1000) - self.last_event_time_ms

    def silent_for(self, now: float) -> float | None:
        since = self.last_message_at or self.connected_since
        return None if since is None else now - since
