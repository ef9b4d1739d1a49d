"""Number and time formatting of the view (binmon/view/format.py)."""

from __future__ import annotations

from binmon.view import format as fmt
from tests.view_fixtures import (
    NOW,
    T,
)

# --- formatting helpers --------------------------------------------------------------------


def test_format_helpers() -> None:
    assert fmt.delivery_text(4133404800000) == "perpetual"
    assert fmt.delivery_text(4133404802000) == "perpetual"  # BTCUSDT's real value
    assert fmt.delivery_text(1766736000000) == "2025-12-26"
    assert fmt.delivery_text(None) == ""
    assert [fmt.duration(s) for s in (0.04, 9.96, 12, 185, 7380, 352800)] == [
        "0.0s",
        "10.0s",
        "12s",
        "3m05s",
        "2h03m",
        "4d02h",
    ]
    assert fmt.clock_time(T - 1000, T) == "07:49:08"
    assert fmt.clock_time(T - 86_400_000, T) == "2025-12-23 07:49"
    assert fmt.lag_text(152) == "152ms" and fmt.lag_text(2500) == "2.5s"
    assert fmt.first_difference("0.27462452", "0.27462499") == 8
    assert fmt.first_difference("99.99", "100.01") == 0
    assert fmt.direction("0.10000000", "0.1") == 0
    assert fmt.direction("0.1", "0.10000001") == 1
    assert fmt.sparkline([(0, 1.0), (50, 2.0), (99, 3.0)], 4, 0, 100) == "▁▁▅█"
    assert fmt.sparkline([(60, 5.0)], 4, 0, 100) == "  ▁▁"
    assert fmt.sparkline([], 3, 0, 100) == "   "


def test_changed_digits_are_emphasised() -> None:
    from binmon.view.assets import flashed
    from binmon.view.model import Flash

    text = flashed("0.27462499", Flash(1, 8, NOW.wall_ms - 100), NOW.wall_ms)
    assert text.plain == "0.27462499"  # the exchange's exact digits
    styles = {(span.start, span.end, str(span.style)) for span in text.spans}
    assert (0, 10, "green") in styles and (8, 10, "bold reverse green") in styles
    expired = flashed("0.27462499", Flash(1, 8, NOW.wall_ms - 2000), NOW.wall_ms)
    assert expired.spans == []
