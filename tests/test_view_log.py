"""The change log section (binmon/view/log.py)."""

from __future__ import annotations

from binmon.view.log import log_section
from tests.view_fixtures import (
    NOW,
    build_model,
    render,
)

LOG = """\
Recent changes  (UTC, newest first)
07:48:39  LOOMUSDT  listed (PENDING_TRADING)
07:47:49  ETHUSDT   bracket 7 added (max leverage 10)
07:47:09  XYZUSDT   TRADING → SETTLING
07:47:09  XYZUSDT   delivery perpetual → 2025-12-24 08:00
07:44:09  BTCUSDT   bracket 1 max leverage 125 → 100
"""


def test_change_log() -> None:
    assert render(log_section(build_model(), 80, 9, NOW), 80) == LOG
