"""Live rich tables for a terminal: ``make_live_view(given)`` gives the runner its consumer.

Only the live path imports this package, so rich is never paid for by
``--help``, ``--json`` or pipes.

- :mod:`binmon.view.live`: the sink, its refresh loop, keyboard and terminal care;
- :mod:`binmon.view.tables`: the screen model and pure render functions
  (``render_screen(model, width, height, now)``);
- :mod:`binmon.view.format`: pure text helpers (times, ages, sparklines, safe text).
"""

from __future__ import annotations

from binmon.view.live import LiveView
from binmon.view.tables import ASSET_SORTS, CONTRACT_SORTS, Now, ScreenModel, render_screen
from binmon.view_input import ViewInput

__all__ = [
    "ASSET_SORTS",
    "CONTRACT_SORTS",
    "LiveView",
    "Now",
    "ScreenModel",
    "make_live_view",
    "render_screen",
]


def make_live_view(given: ViewInput) -> LiveView:
    """The live view of what ``given`` holds."""
    return LiveView(given)
