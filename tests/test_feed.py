"""The feed on its own: decode, drop repeats, keep order (no network needed)."""

from __future__ import annotations

import io

from binmon.diag import Diagnostics
from binmon.feed import Feed
from binmon.status import StreamStatus
from tests.exchange import asset_frame, contract_frame
from tests.streaming import Events


def feed() -> tuple[Feed, Events, StreamStatus]:
    sink = Events()
    return Feed(sink, Diagnostics(io.StringIO())), sink, StreamStatus("x")


def test_a_resent_contract_event_is_dropped() -> None:
    f, sink, status = feed()
    for frame in (contract_frame(5, "AUSDT"), contract_frame(5, "AUSDT")):
        f.message(frame, status)
    assert [c.event_time for c in sink.contracts] == [5]
    assert f.duplicates == 1


def test_different_contract_events_in_one_millisecond_are_both_kept() -> None:
    f, sink, status = feed()
    frames = [
        contract_frame(5, "AUSDT", "PENDING_TRADING"),
        contract_frame(5, "AUSDT", "TRADING"),
        contract_frame(5, "AUSDT", "PENDING_TRADING"),  # a resend of the first
        contract_frame(4, "AUSDT", "TRADING"),  # older than what we have
        contract_frame(5, "BUSDT", "TRADING"),
    ]
    for frame in frames:
        f.message(frame, status)
    assert [(c.symbol, c.status) for c in sink.contracts] == [
        ("AUSDT", "PENDING_TRADING"),
        ("AUSDT", "TRADING"),
        ("BUSDT", "TRADING"),
    ]
    assert f.duplicates == 2


def test_asset_frames_repeated_by_a_rotation_are_dropped() -> None:
    f, sink, status = feed()
    for t in (1, 2, 2, 1, 3):
        f.message(asset_frame(t), status)
    assert [e.event_time for e in sink.events if e.symbol == "ADAUSD"] == [1, 2, 3]
