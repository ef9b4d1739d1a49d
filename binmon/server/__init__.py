"""``binmon serve``: a local, Binance-compatible stand-in for the exchange.

This module is light (no aiohttp) so the CLI can import it cheaply;
:func:`make_app` and :func:`start_server` are loaded from
:mod:`binmon.server.app` on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from binmon.server.faults import Faults

if TYPE_CHECKING:
    from binmon.server.app import make_app, start_server

# Fixed, public demo credentials: printed at start, never a real secret.
# 64 alphanumerics, the shape of a real Binance API key.
DEMO_API_KEY: Final = "binmondemo49bffb593122118f30bf0687ed761a78c5e672ee32424ca294525d"
DEMO_API_SECRET: Final = "binmondemoc63ffb828a20697036e15f7a30c56479ad00b8caa6fe4ad3751971"

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9443


@dataclass(frozen=True)
class ServerConfig:
    """Everything that shapes one server instance (CLI, demo and tests alike)."""

    # Asset index frames per second; contract events speed up proportionally.
    rate: float = 1.0
    seed: int = 0
    # Serve this recording instead of the generated scenario.
    from_file: str | Path | None = None
    # Replay speed for from_file (2 = twice as fast as recorded).
    speed: float = 1.0
    # Scenario start time; None means the server clock at startup.
    start_ms: int | None = None
    symbols: int = 650
    # The exchange pings every 3 minutes and drops clients silent for 10.
    ping_interval: float = 180.0
    pong_timeout: float = 600.0
    # The exchange closes every connection after 24 hours.
    max_connection_age: float | None = 24 * 3600.0
    # Added to the server clock (REST time, recvWindow checks, event times),
    # to test a client's clock-skew handling.
    clock_offset_ms: int = 0
    api_key: str = DEMO_API_KEY
    api_secret: str = DEMO_API_SECRET
    # Incoming messages per second per connection before a 1008 close.
    message_rate_limit: int = 10
    max_streams: int = 1024
    # Frames a slow client may fall behind by before it is disconnected.
    max_queue: int = 10_000
    faults: Faults = field(default_factory=Faults)
    # One-line diagnostics (connections, faults); None = silent.
    log: Callable[[str], None] | None = None
    # Append a line per data frame actually written to a client, with the
    # (symbol, event time) keys it carried, and each connection's open,
    # faults and close (format: binmon.server.sentlog). None = no such log.
    sent_log: str | Path | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.ping_interval <= 0:
            raise ValueError("ping_interval must be positive")


def __getattr__(name: str) -> Any:
    # Lazy: importing binmon.server must not import aiohttp.
    if name in ("make_app", "start_server"):
        from binmon.server import app

        return getattr(app, name)
    if name == "ServerState":
        from binmon.server import state

        return state.ServerState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "Faults",
    "ServerConfig",
    "make_app",
    "start_server",
]
