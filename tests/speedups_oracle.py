"""What the pure-Python path makes of a message or a recording line, in the
shape binmon._speedups returns: the reference the C accelerator must match.

Shared by tests/test_speedups.py and the differential fuzzer
(fuzz/fuzz_speedups.py); neither imports the other.
"""

from __future__ import annotations

from binmon.jsonl import encode_assets
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
