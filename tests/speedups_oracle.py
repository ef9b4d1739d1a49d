"""What the pure-Python path makes of a message or a recording line, in the
shape binmon._speedups returns: the reference the C accelerator must match.

Shared by tests/test_speedups.py and the differential fuzzer
(fuzz/fuzz_speedups.py); neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from binmon.collateral import Collateral, Holding, Quote
from binmon.jsonl import encode_assets, encode_collateral
from binmon.protocol import AssetIndex, Frame, decode_message, decode_payload, is_asset_index_stream
from binmon.recording import SNAPSHOT_STREAM, decode_line

FastResult = tuple[bytes, int, int, int, str]


def _result(frame: Frame) -> FastResult | None:
    if frame.malformed or not frame.events or frame.stream is None:
        return None
    events = [e for e in frame.events if isinstance(e, AssetIndex)]
    if len(events) != len(frame.events):
        return None
    return (
        encode_assets(events),
        len(events),
        events[0].event_time,
        events[-1].event_time,
        frame.stream,
    )


def live(message: bytes | str) -> FastResult | None:
    """``Feed.message``'s decoding of one combined-stream message."""
    return _result(decode_message(message))


def recorded(line: bytes | str) -> FastResult | None:
    """The replay's handling of one recording line (binmon/runner.py ``_replay``):
    a recorded frame, not the snapshot, on an asset index stream, then its payload."""
    frame = decode_line(line.encode(errors="surrogatepass") if isinstance(line, str) else line)
    if frame is None or frame.stream == SNAPSHOT_STREAM:
        return None
    if not is_asset_index_stream(frame.stream):
        return None
    return _result(decode_payload(frame.stream, bytes(frame.data)))


# What stands in for the entries known before a frame: numbers no frame has,
# so a C line made without one of the frame's own entries cannot match.
_KNOWN_INDEX, _KNOWN_BID, _KNOWN_ASK = "7", "3", "5"


def collateral(lines: bytes, holdings: Sequence[Holding], floor: int) -> bytes | None:
    """The ``collateral`` line Python writes for one frame's finished lines, when
    every holding was already valued at event time ``floor``: what
    ``binmon._speedups.valued_asset_index_lines(message, fast_holdings(holdings),
    floor)`` must append to the frame's lines whenever it does not decline.
    None: no held entry in the frame."""
    tracker = Collateral(holdings)
    for h in holdings:
        tracker.quote(Quote(h.symbol, floor, _KNOWN_INDEX, _KNOWN_BID, _KNOWN_ASK))
    newest = tracker.lines(lines)
    if newest is None:
        return None
    return encode_collateral(tracker.report(newest)[0])
