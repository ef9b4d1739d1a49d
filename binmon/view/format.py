"""Pure formatting helpers for the live tables: no rich, no I/O, no clocks.

Every function takes the current time as an argument when it needs one, so
that the golden tests can pin it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter
from typing import Final

from binmon.protocol import PERPETUAL_FROM_MS

# --- safe text -------------------------------------------------------------


def _unsafe_table() -> dict[int, str]:
    table: dict[int, str] = {}
    # C0 controls become their Unicode "control pictures" (␛, ␇, ␊ …): visible,
    # one cell wide, and inert in every terminal.
    for c in range(0x20):
        table[c] = chr(0x2400 + c)
    table[0x7F] = "␡"
    # C1 controls (0x9B is a one-byte CSI on some terminals) have no pictures.
    for c in range(0x80, 0xA0):
        table[c] = f"\\x{c:02x}"
    # Invisible characters that reorder or hide text could make one symbol
    # look like another in a table of symbols; show them instead.
    for c in (
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        0x2028,
        0x2029,
        0xFEFF,
    ):
        table[c] = f"\\u{c:04x}"
    return table


_UNSAFE: Final = _unsafe_table()


def safe(text: object, limit: int = 200) -> str:
    """Network text made inert for a terminal: control characters shown, long text cut.

    The result is still plain text, never markup: callers wrap it in
    ``rich.text.Text`` so ``[bold]`` stays literal.
    """
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = s[:limit] + "…"
    if s.isascii() and s.isprintable():
        return s  # the overwhelmingly common case, without a translate
    return s.translate(_UNSAFE)


# --- times -----------------------------------------------------------------


@lru_cache(maxsize=4096)
def utc_date(ms: int) -> str:
    """``YYYY-MM-DD`` (UTC) of epoch milliseconds; ``?`` when out of range."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "?"


def delivery_text(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms >= PERPETUAL_FROM_MS:
        return "perpetual"
    return utc_date(ms)


def date_time(ms: int | None) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC), or ``perpetual`` for a far-future delivery."""
    if ms is None:
        return "none"
    if ms >= PERPETUAL_FROM_MS:
        return "perpetual"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "?"


def timestamp(ms: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "?"


def clock_time(ms: float, now_ms: float) -> str:
    """``HH:MM:SS`` (UTC) for today's times, ``YYYY-MM-DD HH:MM`` for older ones.

    Replays and hours-old listings stay unambiguous without widening every row.
    """
    try:
        when = datetime.fromtimestamp(ms / 1000, UTC)
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    except (OverflowError, OSError, ValueError):
        return "?"
    if when.date() == today:
        return when.strftime("%H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float) -> str:
    """Short human duration: ``0.4s``, ``12s``, ``3m05s``, ``2h03m``, ``4d02h``."""
    if math.isnan(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def lag_text(ms: float) -> str:
    """Event lag; sub-second lags are what a healthy feed shows, so keep them in ms."""
    if ms < 0:
        # The exchange clock is ahead of ours: say so rather than show nonsense.
        return f"-{duration(-ms / 1000)}" if ms < -1000 else f"{ms:.0f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return duration(ms / 1000)


# --- numbers ---------------------------------------------------------------


def first_difference(old: str, new: str) -> int:
    """Index in ``new`` from which it differs from ``old`` (``len(new)`` if equal).

    The exchange sends fixed-precision decimals, so equal lengths mean aligned
    digits; a length change (``99.99`` → ``100.01``) changes the whole value.
    """
    if len(old) != len(new):
        return 0
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            return i
    return len(new)


def direction(old: str, new: str) -> int:
    """+1 when ``new`` > ``old``, -1 when lower, 0 when equal or not comparable.

    Exact decimal comparison: the strings are the exchange's own digits.
    """
    try:
        a, b = Decimal(old), Decimal(new)
    except InvalidOperation:
        return 0
    return (b > a) - (b < a)


def to_float(text: str | None) -> float | None:
    """For shapes and sort keys only (sparklines, "highest first"); never for display."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def percent(change: float) -> str:
    return f"{change:+.2f}%"


def rate(per_second: float) -> str:
    return f"{per_second:.1f} msg/s"


# --- sparklines ------------------------------------------------------------

BLOCKS: Final = "▁▂▃▄▅▆▇█"


def sparkline(points: Sequence[tuple[float, float]], width: int, start: float, end: float) -> str:
    """A ``width``-cell sparkline of ``(time, value)`` points between ``start`` and ``end``.

    ``points`` are in time order. Each cell shows the last value that falls in
    its time slot; slots before the first point are blank (a feed that just
    started has no history yet), later empty slots repeat the previous value
    (the index did not move).
    """
    if width <= 0 or not points or end <= start:
        return " " * max(width, 0)
    span = (end - start) / width

    def slot(point: tuple[float, float]) -> int:
        return min(width - 1, int((point[0] - start) / span))

    # A slot is a monotonic function of time: each cell's last point is found
    # by bisection (a dozen cells, five minutes of points, every refresh), on
    # the times at the slot's computed end, then settled with `slot` itself so
    # that a point on a boundary lands where the formula puts it.
    time = itemgetter(0)
    first = bisect_left(points, start, key=time)
    cells: list[float | None] = [None] * width
    end_index = len(points)
    for k in range(width - 1, -1, -1):
        if end_index <= first:
            break
        # One past the last point of slot k or before.
        after = (
            end_index
            if k == width - 1
            else bisect_left(points, start + (k + 1) * span, first, end_index, key=time)
        )
        while after > first and slot(points[after - 1]) > k:
            after -= 1
        while after < end_index and slot(points[after]) <= k:
            after += 1
        last = after - 1
        if last >= first and slot(points[last]) == k:
            cells[k] = points[last][1]
        end_index = after
    last_value: float | None = None
    filled: list[float | None] = []
    for value in cells:
        if value is None:
            value = last_value
        filled.append(value)
        last_value = value
    present = [v for v in filled if v is not None]
    if not present:
        return " " * width
    low, high = min(present), max(present)
    if high - low <= abs(high) * 1e-12:
        return "".join(" " if v is None else BLOCKS[0] for v in filled)
    scale = (len(BLOCKS) - 1) / (high - low)
    return "".join(" " if v is None else BLOCKS[round((v - low) * scale)] for v in filled)
