"""The feed on its own: every branch from a message to its consumers (no network needed)."""

from __future__ import annotations

import io
import json

import pytest

from binmon.consumer import Consumer, Fanout
from binmon.diag import Diagnostics
from binmon.feed import Feed
from binmon.filters import Filters
from binmon.protocol import AssetIndex, ContractInfo
from binmon.sinks import JsonLinesSink
from binmon.state import Change, Contract, ContractBook
from binmon.status import StreamStatus
from tests.exchange import asset_frame, contract_frame
from tests.streaming import Events


class Frames(Consumer):
    """Keeps the frames it is handed (as the recorder would)."""

    wants_asset_events = False

    def __init__(self) -> None:
        self.frames: list[bytes | str] = []

    def frame(self, data: bytes | str) -> None:
        self.frames.append(data)


class Changes(Events):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[list[Change]] = []
        self.raw: list[bytes | None] = []

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        super().contract(event, changes, raw)
        self.changes.append(changes)
        self.raw.append(raw)


def feed(**options: object) -> tuple[Feed, Changes, StreamStatus]:
    sink = Changes()
    return Feed(sink, Diagnostics(io.StringIO()), **options), sink, StreamStatus("x")  # type: ignore[arg-type]


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


def test_without_dedupe_every_frame_is_delivered() -> None:
    f, sink, status = feed(dedupe=False)
    for t in (1, 1, 2):
        f.message(asset_frame(t), status)
        f.message(contract_frame(t, "AUSDT"), status)
    assert [e.event_time for e in sink.events if e.symbol == "ADAUSD"] == [1, 1, 2]
    assert [c.event_time for c in sink.contracts] == [1, 1, 2]
    assert f.duplicates == 0


def test_count_stops_mid_frame_and_says_so_once() -> None:
    done: list[bool] = []
    f, sink, status = feed(count=3, on_done=lambda: done.append(True))
    f.message(asset_frame(1), status)  # 2 events
    f.message(asset_frame(2), status)  # only 1 of 2 fits
    f.message(asset_frame(3), status)  # after the end: ignored
    f.message(contract_frame(4, "AUSDT"), status)
    assert [(e.symbol, e.event_time) for e in sink.events] == [
        ("ADAUSD", 1),
        ("BTCUSD", 1),
        ("ADAUSD", 2),
    ]
    assert sink.contracts == [] and f.done and done == [True] and f.events_written == 3


def test_symbol_globs_narrow_both_streams() -> None:
    f, sink, status = feed(filters=Filters.build(symbols=("btc*",)))
    f.message(asset_frame(1), status)
    f.message(contract_frame(2, "AUSDT"), status)
    f.message(contract_frame(3, "BTCUSDT"), status)
    assert [e.symbol for e in sink.events] == ["BTCUSD"]
    assert [c.symbol for c in sink.contracts] == ["BTCUSDT"]


class Unfiltered(Events):
    """Values holdings, say: every new entry of a frame, shown or not."""

    unfiltered_assets = True


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"filters": Filters.build(symbols=("btc*",))}, ["BTCUSD"] * 3),
        ({"count": 3}, ["ADAUSD", "BTCUSD", "ADAUSD"]),
        ({"filters": Filters.build(symbols=("eth*",))}, []),
    ],
)
def test_a_narrowed_frame_still_reaches_unfiltered_consumers_whole(
    options: dict[str, object], shown: list[str]
) -> None:
    shows, values = Events(), Unfiltered()
    f = Feed(Fanout([shows, values]), Diagnostics(io.StringIO()), **options)  # type: ignore[arg-type]
    status = StreamStatus("x")
    for t in (1, 2, 2, 3):  # the repeated frame is a rotation's overlap: dropped for both
        f.message(asset_frame(t), status)
    assert [e.symbol for e in shows.events] == shown
    expected = [("ADAUSD", 1), ("BTCUSD", 1), ("ADAUSD", 2), ("BTCUSD", 2)]
    if "count" not in options:
        expected += [("ADAUSD", 3), ("BTCUSD", 3)]  # --count ends the run at frame 2
    assert [(e.symbol, e.event_time) for e in values.events] == expected
    assert f.events_written == len(shown)


def test_a_filtered_out_contract_still_updates_the_book() -> None:
    book = ContractBook()
    f, sink, status = feed(filters=Filters.build(statuses=("TRADING",)), book=book)
    f.message(contract_frame(1, "AUSDT", "SETTLING"), status)
    f.message(contract_frame(2, "AUSDT", "TRADING"), status)
    assert [c.status for c in sink.contracts] == ["TRADING"]
    # The change is computed against the event nobody saw: the book saw it.
    assert sink.changes[-1][0].field == "status" and sink.changes[-1][0].old == "SETTLING"
    assert book.contracts["AUSDT"].status == "TRADING"


def test_changes_only_drops_events_that_change_nothing() -> None:
    book = ContractBook()
    book.seed([Contract("AUSDT", "AUSDT", "PERPETUAL", "TRADING", 4133404800000, 1569398400000)])
    f, sink, status = feed(filters=Filters.build(changes_only=True), book=book)
    f.message(contract_frame(1, "AUSDT", "TRADING"), status)
    f.message(contract_frame(2, "AUSDT", "SETTLING"), status)
    assert [c.status for c in sink.contracts] == ["SETTLING"]


def test_held_contract_events_wait_for_the_snapshot_then_arrive_in_order() -> None:
    book = ContractBook()
    f, sink, status = feed(book=book)
    f.hold_contracts()
    f.message(contract_frame(1, "AUSDT", "SETTLING"), status)
    f.message(asset_frame(1), status)  # assets never wait
    f.message(contract_frame(2, "AUSDT", "CLOSE"), status)
    assert sink.contracts == [] and len(sink.events) == 2
    book.seed([Contract("AUSDT", "AUSDT", "PERPETUAL", "TRADING", 4133404800000, 1569398400000)])
    f.release()
    assert [c.status for c in sink.contracts] == ["SETTLING", "CLOSE"]
    assert [(ch[0].old, ch[0].new) for ch in sink.changes] == [
        ("TRADING", "SETTLING"),
        ("SETTLING", "CLOSE"),
    ]
    f.message(contract_frame(3, "AUSDT", "TRADING"), status)  # no longer held
    assert len(sink.contracts) == 3


def test_raw_hands_each_element_as_received() -> None:
    f, sink, status = feed(raw=True)
    f.message(contract_frame(1, "AUSDT"), status)
    raw = sink.raw[0]
    assert raw is not None and json.loads(raw)["s"] == "AUSDT"
    assert (
        raw
        == json.dumps(
            json.loads(contract_frame(1, "AUSDT"))["data"], separators=(",", ":")
        ).encode()
    )


@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_malformed_frame_is_skipped_counted_and_loses_nothing(position: int) -> None:
    frames = [asset_frame(1), asset_frame(2), asset_frame(3)]
    frames.insert(position, '{"stream":"!assetIndex@arr","data":[{"e":"assetIndexUpdate"}]}')
    stderr = io.StringIO()
    sink = Events()
    f, status = Feed(sink, Diagnostics(stderr)), StreamStatus("x")
    for frame in frames:
        f.message(frame, status)
    assert [e.event_time for e in sink.events if e.symbol == "ADAUSD"] == [1, 2, 3]
    assert f.malformed == 1 and status.malformed == 1
    assert stderr.getvalue().count("\n") == 1  # one warning, rate-limited


def test_every_delivered_frame_reaches_frame_consumers_once_and_bad_ones_too() -> None:
    keeper = Frames()
    events = Events()
    f = Feed(Fanout([events, keeper]), Diagnostics(io.StringIO()))
    status = StreamStatus("x")
    bad = '{"stream":"!contractInfo","data":{"e":"contractInfo"}}'
    frames = [asset_frame(1), contract_frame(2, "AUSDT"), bad, asset_frame(1)]
    for frame in frames:
        f.message(frame, status)
    # The repeat is kept too: a recording keeps what was received.
    assert keeper.frames == frames
    assert len(events.contracts) == 1


def test_the_accelerator_serves_only_consumers_that_take_finished_lines() -> None:
    out = io.BytesIO()
    writer = JsonLinesSink(out)
    f = Feed(Fanout([writer, Frames()]), Diagnostics(io.StringIO()))
    assert f.out.takes_encoded_assets  # the frame keeper wants no asset events
    f.message(asset_frame(1), StreamStatus("x"))
    assert [json.loads(line)["symbol"] for line in out.getvalue().splitlines()] == [
        "ADAUSD",
        "BTCUSD",
    ]
    # One consumer that needs decoded events: every consumer gets decoded events.
    mixed = Fanout([JsonLinesSink(io.BytesIO()), Events()])
    assert not mixed.takes_encoded_assets
    assert not JsonLinesSink(io.BytesIO(), raw=True).takes_encoded_assets


def test_fanout_calls_consumers_in_order_and_closes_them_all() -> None:
    calls: list[str] = []

    class Named(Consumer):
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
            calls.append(f"{self.name}.assets")

        def close(self) -> None:
            calls.append(f"{self.name}.close")
            if self.fail:
                raise ValueError("closed already")

    fanout = Fanout([Named("a", fail=True), Named("b")])
    fanout.assets([], None)
    with pytest.raises(ValueError):
        fanout.close()
    assert calls == ["a.assets", "b.assets", "a.close", "b.close"]
