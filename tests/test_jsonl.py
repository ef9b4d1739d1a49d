"""JSON lines read back: what binmon wrote, event for event, digit for digit."""

from __future__ import annotations

from binmon.jsonl import decode_asset_lines, encode_assets
from binmon.protocol import AssetIndex


def entry(symbol: str, time: int, price: str) -> AssetIndex:
    return AssetIndex(
        symbol, time, price, "0.10000000", "0.1", "1e-8", "-0", "0", "12345678901234567890.5",
        "0.26089330", "2.5E+3",
    )  # fmt: skip


def test_asset_lines_read_back_exactly() -> None:
    events = [
        entry("BTCUSD", 1, "87444.54032684"),
        # Not plain: written JSON-escaped, read back as it was.
        entry('EV"IL\\\n\x1b[31m\u009b', 2, "0.00000001"),
        entry("ÄUSD", 3, "1"),
    ]
    data = encode_assets(events)
    assert decode_asset_lines(data) == events
    # One frame after another, as a consumer of finished lines receives them.
    assert decode_asset_lines(data + encode_assets(events[:1])) == [*events, events[0]]
    assert decode_asset_lines(b"") == []
