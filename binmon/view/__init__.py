"""Live rich tables for a terminal: ``make_live_view(given)`` gives the runner its consumer.

Only the live path imports this package, so rich is never paid for by
``--help``, ``--json`` or pipes.

- :mod:`binmon.view.live`: the sink, its refresh loop, keyboard and terminal care;
- :mod:`binmon.view.model`: the screen model, its rows and their updates;
- :mod:`binmon.view.screen`: the whole screen, pure
  (``render_screen(model, width, height, now)``): status lines, header,
  footer and the layout of the sections, which are
  :mod:`binmon.view.assets` (asset index, collateral),
  :mod:`binmon.view.contracts` (contract table, a contract's detail),
  :mod:`binmon.view.upcoming` (listings and deliveries) and
  :mod:`binmon.view.log` (change log, help), drawn with
  :mod:`binmon.view.grid` (borderless tables) and
  :mod:`binmon.view.words` (changes in words);
- :mod:`binmon.view.format`: pure text helpers (times, ages, sparklines, safe text).
"""

from __future__ import annotations

from binmon.view.live import LiveView
from binmon.view.model import ASSET_SORTS, CONTRACT_SORTS, Now, ScreenModel
from binmon.view.screen import render_screen
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
