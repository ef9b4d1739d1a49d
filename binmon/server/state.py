"""The state of one ``binmon serve`` instance, shared by its handlers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from binmon.server import ServerConfig, clock
from binmon.server.hub import Hub
from binmon.server.markets import Market, ReplayMarket, ScenarioMarket
from binmon.server.sentlog import SentLog

if TYPE_CHECKING:
    from binmon.server.connection import Connection


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
        self.market: Market = (
            ReplayMarket(config) if config.from_file is not None else ScenarioMarket(config)
        )
        self._weight = _Weight()
        # exchangeInfo's symbols, rebuilt only when the market's contracts change:
        # (market version, symbols).
        self.symbols_cache: tuple[int, list[dict[str, Any]]] | None = None

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
        return clock.now_ms(self.config.clock_offset_ms)

    def use_weight(self, weight: int) -> int:
        minute = int(time.time() // 60)
        if minute != self._weight.minute:
            self._weight = _Weight(minute)
        self._weight.used += weight
        return self._weight.used


STATE_KEY: Final = web.AppKey("binmon_state", ServerState)
