"""Live rich tables for a terminal: ``make_live_view(runner)`` gives the runner its sink.

Only the live path imports this package, so rich is never paid for by
``--help``, ``--json`` or pipes.

- :mod:`binmon.view.live`: the sink, its refresh loop, keyboard and terminal care;
- :mod:`binmon.view.tables`: the screen model and pure render functions
  (``render_screen(model, width, height, now)``);
- :mod:`binmon.view.format`: pure text helpers (times, ages, sparklines, safe text).
"""

from __future__ import annotations

from typing import Any

from binmon.view.live import LiveView
from binmon.view.tables import ASSET_SORTS, CONTRACT_SORTS, Now, ScreenModel, render_screen

__all__ = [
    "ASSET_SORTS",
    "CONTRACT_SORTS",
    "LiveView",
    "Now",
    "ScreenModel",
    "make_live_view",
    "render_screen",
]


def make_live_view(runner: Any) -> LiveView:
    """The live sink for ``runner`` (a :class:`binmon.runner.Runner`)."""
    return LiveView(runner)
