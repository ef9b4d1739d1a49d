"""The server clock: wall time plus the configured skew (``--clock-offset``)."""

from __future__ import annotations

import time


def now_ms(offset_ms: int) -> int:
    return int(time.time() * 1000) + offset_ms
