"""Fault injection for ``binmon serve``: misbehave on purpose, per connection.

For people testing a client's resilience (and for binmon's own reconnect
tests). Counts are of *valid data frames* sent on one connection; control
replies, pings and injected garbage do not count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Faults:
    # Abort the TCP connection (no close frame) after this many data frames.
    drop_every: int | None = None
    # With drop_every: send a close frame with this code instead of aborting.
    close_code: int | None = None
    # After this many data frames keep the socket open but send nothing more
    # (pings are still answered, like a stream that silently died).
    silent_after: int | None = None
    # After every N valid frames, send one malformed frame (cycling through
    # non-JSON bytes, JSON of the wrong shape, and a bad value in a good envelope).
    garbage_every: int | None = None
    # Refuse WebSocket upgrades with this HTTP status (e.g. 451, 403, 503).
    refuse_status: int | None = None
    # Random chaos, for soak tests: after a random time (exponential, this mean
    # in seconds) each connection either loses its TCP stream without a close
    # frame, is closed with 1000, 1001 or 1011, or goes silent for good.
    # Random per connection but repeatable: drawn from the scenario seed.
    chaos: float | None = None

    def __post_init__(self) -> None:
        for name in ("drop_every", "silent_after", "garbage_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.close_code is not None and not 1000 <= self.close_code <= 4999:
            raise ValueError("close_code must be a WebSocket close code (1000-4999)")
        if self.refuse_status is not None and not 300 <= self.refuse_status <= 599:
            raise ValueError("refuse_status must be an HTTP error status (300-599)")
        if self.chaos is not None and not self.chaos > 0:
            raise ValueError("chaos must be a positive number of seconds")

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.drop_every,
                self.silent_after,
                self.garbage_every,
                self.refuse_status,
                self.chaos,
            )
        )

    def describe(self) -> list[str]:
        """One human line per active fault (printed at start)."""
        lines = []
        if self.drop_every is not None:
            how = (
                f"close with code {self.close_code}"
                if self.close_code
                else "drop the TCP connection"
            )
            lines.append(f"{how} after every {self.drop_every} data frames")
        if self.silent_after is not None:
            lines.append(f"go silent after {self.silent_after} data frames")
        if self.garbage_every is not None:
            lines.append(f"send a malformed frame after every {self.garbage_every} frames")
        if self.refuse_status is not None:
            lines.append(f"refuse WebSocket upgrades with HTTP {self.refuse_status}")
        if self.chaos is not None:
            lines.append(
                f"chaos: about every {self.chaos:g}s (random) each connection is dropped "
                "without a close frame, closed with 1000/1001/1011, or goes silent"
            )
        return lines
