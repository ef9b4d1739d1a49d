"""What a streaming run is asked to do: a typed configuration the commands build.

The click layer turns flags into a :class:`RunConfig`; the runner and the
outputs read it. Nothing here imports the click layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from binmon.collateral import Holding
from binmon.connection import Backoff, ConnectionSettings
from binmon.defaults import ACCOUNT_EVERY, ALERT_AFTER, EXEC_TIMEOUT
from binmon.endpoints import Endpoints, Listen, endpoints
from binmon.filters import Filters
from binmon.output import DEFAULT_LIMIT
from binmon.signed_rest import Credentials

ASSETS, CONTRACTS = "asset index", "contract info"

__all__ = ["ASSETS", "CONTRACTS", "Endpoints", "RunConfig", "endpoints"]


@dataclass
class RunConfig:
    kinds: tuple[str, ...]  # subset of (ASSETS, CONTRACTS)
    endpoints: Endpoints
    assets: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    json: bool = True
    raw: bool = False
    count: int | None = None
    duration: float | None = None
    from_file: str | None = None
    speed: float | None = None
    record_path: str | None = None
    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    backoff: Callable[[], Backoff] = Backoff
    demo: bool = False
    seed_wait: float = 5.0
    # Bytes of JSON lines held for a reader that has paused (binmon.output).
    output_limit: int = DEFAULT_LIMIT
    # Interrupted (SIGTERM, Ctrl-C, a failure): how long a reader that does
    # not read may hold up the exit. A normal end waits for it.
    exit_grace: float = 2.0
    # Table order (tables only); the values are binmon.view's ASSET_SORTS / CONTRACT_SORTS.
    sort: str | None = None
    contract_sort: str | None = None
    # Serve Prometheus metrics and a health check here (binmon.metrics_server).
    metrics_listen: Listen | None = None
    # Nothing on stdout (the exporter): the events only feed the metrics.
    headless: bool = False
    # Alerts (binmon.alerts): the kinds asked for (``all`` expanded), and where they go.
    alerts: frozenset[str] = frozenset()
    alert_after: float = ALERT_AFTER
    bell: bool = False
    notify: bool = False
    exec_command: str | None = None
    exec_timeout: float = EXEC_TIMEOUT
    # Collateral (asset streams) and positions (contract streams): given on the
    # command line, and/or read from the signed account every account_every seconds.
    holdings: tuple[Holding, ...] = ()
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    account: bool = False
    account_every: float = ACCOUNT_EVERY
    # BINANCE_API_KEY/SECRET when both are set: --account, and bracket seeding.
    credentials: Credentials | None = None

    @property
    def command(self) -> str:
        """The command's name as the user knows it (for titles and messages)."""
        if self.demo:
            return "demo"
        if self.headless:
            return "exporter"
        if ASSETS in self.kinds and CONTRACTS in self.kinds:
            return "watch"
        return "assets" if ASSETS in self.kinds else "contracts"
