"""What the live view is given: exactly what it shows, and a way to stop.

The runner builds one; the view never sees the runner itself. Kept apart from
:mod:`binmon.view` so that building it costs no import of rich.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.filters import Filters
from binmon.positions import Positions
from binmon.state import Contract
from binmon.status import StreamStatus


@dataclass(frozen=True)
class ViewInput:
    kinds: tuple[str, ...]
    command: str  # as the user typed it: watch, assets, contracts, demo
    # Read-only views of what the feed keeps up to date: the contract book
    # (already updated when the view hears of an event) and stream health.
    contracts: Mapping[str, Contract]
    statuses: Mapping[str, StreamStatus]
    filters: Filters
    terminal: Environment
    # The view shows diagnostics in its footer while it owns the screen.
    diag: Diagnostics
    stop: Callable[[], None]
    demo: bool = False
    replay: str | None = None  # the recording being replayed, if any
    stale_after: float = 10.0
    # Assets asked for by name (per-asset streams); empty means every asset.
    assets: tuple[str, ...] = ()
    sort: str | None = None
    contract_sort: str | None = None
    # --bell: ring the terminal bell on each alert.
    bell: bool = False
    # The user's positions (--position, --account), read against the book's ladders.
    positions: Positions | None = None
