"""The collateral consumer behind a real Feed: where its lines go, and that the C path stays."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from binmon.collateral import Collateral, CollateralReport, parse_holds
from binmon.consumer import Consumer, Fanout
from binmon.diag import Diagnostics
from binmon.feed import Feed
from binmon.filters import Filters
from binmon.sinks import JsonLinesSink
from binmon.status import StreamStatus
from binmon.valuation import attach
from tests.exchange import ASSET, asset_frame


class Reports(Consumer):
    wants_asset_events = False  # reports only: never in the way of the accelerator

    def __init__(self) -> None:
        self.reports: list[CollateralReport] = []

    def collateral(self, report: CollateralReport) -> None:
        self.reports.append(report)


def _run(
    frames: list[str], holds: list[str], filters: Filters | None = None
) -> tuple[Feed, list[dict[str, object]], Reports, str]:
    out = io.BytesIO()
    err = io.StringIO()
    diag = Diagnostics(err)
    reports = Reports()
    fanout = Fanout([JsonLinesSink(out), reports])
    encoders = attach(Collateral(parse_holds(holds), grace_ms=1000), fanout, diag)
    feed = Feed(fanout, diag, filters=filters, encoders=encoders)
    status = StreamStatus("asset index")
    for frame in frames:
        feed.message(frame, status)
    lines = [json.loads(line, parse_float=Decimal) for line in out.getvalue().splitlines()]
    return feed, lines, reports, err.getvalue()


@pytest.mark.parametrize("globs", [(), ("*USD",)])
def test_a_collateral_line_follows_each_held_frame(globs: tuple[str, ...]) -> None:
    # No globs: the C accelerator writes the asset lines; a glob: the Python path.
    frames = [
        asset_frame(1000, ("ADAUSD", "BTCUSD")),
        asset_frame(2000, ("ETHUSD",)),
        asset_frame(3000, ("BTCUSD",)),
    ]
    feed, lines, reports, err = _run(frames, ["BTC=-2", "XRP=1"], Filters.build(symbols=globs))
    assert (feed._fast is not None) is (not globs)
    assert [(line["type"], line.get("symbol")) for line in lines] == [
        ("asset_index", "ADAUSD"),
        ("asset_index", "BTCUSD"),
        ("collateral", None),
        ("asset_index", "ETHUSD"),
        ("asset_index", "BTCUSD"),
        ("collateral", None),
    ]
    first = lines[2]
    ask, index = Decimal(ASSET["A"]), Decimal(ASSET["i"])
    assert first["event_time"] == 1000
    assert first["assets"] == [
        {
            "asset": "BTC",
            "symbol": "BTCUSD",
            "quantity": -2,
            "index_price": index,
            "rate": ask,
            "value": -2 * ask,
            "haircut": -2 * index + 2 * ask,
        },
        {
            "asset": "XRP",
            "symbol": "XRPUSD",
            "quantity": 1,
            "index_price": None,
            "rate": None,
            "value": None,
            "haircut": None,
        },
    ]
    assert first["total_value"] == -2 * ask
    assert [r.event_time for r in reports.reports] == [1000, 3000]
    # Named once, after the grace, never again.
    assert err.count("XRP is not valued") == 1


def test_frames_without_a_held_asset_publish_nothing() -> None:
    _, lines, reports, _ = _run([asset_frame(1000, ("ADAUSD",))], ["BTC=1"])
    assert [line["type"] for line in lines] == ["asset_index"]
    assert reports.reports == []


def test_the_collateral_consumer_keeps_the_accelerator() -> None:
    fanout = Fanout([JsonLinesSink(io.BytesIO())])
    encoders = attach(Collateral(parse_holds(["BTC=1"])), fanout, Diagnostics(io.StringIO()))
    assert fanout.takes_encoded_assets
    assert encoders is not None  # and it values the frames in the same C call


class Flushes:
    """A Writable that counts what reaches the reader: one flush per frame is one write."""

    def __init__(self) -> None:
        self.pending = b""
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.pending += data

    def flush(self) -> None:
        if self.pending:
            self.writes.append(self.pending)
            self.pending = b""


def test_a_frame_and_its_collateral_line_reach_the_reader_in_one_write() -> None:
    out = Flushes()
    writer = JsonLinesSink(out)
    fanout = Fanout([writer])
    diag = Diagnostics(io.StringIO())
    feed = Feed(fanout, diag, encoders=attach(Collateral(parse_holds(["BTC=1"])), fanout, diag))
    status = StreamStatus("asset index")
    for t, symbols in ((1000, ("BTCUSD",)), (2000, ("ADAUSD",)), (3000, ("ADAUSD", "BTCUSD"))):
        feed.message(asset_frame(t, symbols), status)
        assert out.pending == b""  # nothing left waiting for the next frame
    assert [w.count(b"\n") for w in out.writes] == [2, 1, 3]
    assert [w.splitlines()[-1][:22] for w in out.writes] == [
        b'{"type":"collateral","',
        b'{"type":"asset_index",',
        b'{"type":"collateral","',
    ]


def test_reports_reach_the_metrics() -> None:
    from binmon.metrics import Metrics
    from binmon.state import ContractBook

    metrics = Metrics({"asset index": StreamStatus("asset index")}, ContractBook(), collateral=True)
    fanout = Fanout([metrics])
    diag = Diagnostics(io.StringIO())
    assert attach(Collateral(parse_holds(["BTC=2", "XRP=1"])), fanout, diag) is None
    assert "\nbinmon_collateral_total_value " not in metrics.exposition().decode()  # no sample
    Feed(fanout, diag).message(asset_frame(1000, ("BTCUSD",)), StreamStatus("asset index"))
    text = metrics.exposition().decode()
    value = 2 * Decimal(ASSET["B"])
    assert f'binmon_collateral_value{{asset="BTC"}} {value}\n' in text
    assert f"binmon_collateral_total_value {value}\n" in text
    assert 'asset="XRP"' not in text  # unvalued: no series rather than a made-up 0


def test_a_hostile_asset_name_is_warned_about_as_text() -> None:
    from binmon.collateral import Holding

    err = io.StringIO()
    diag = Diagnostics(err)
    fanout = Fanout([JsonLinesSink(io.BytesIO())])
    held = [Holding("BTC", Decimal(1)), Holding("\x1b[2J\x9bX", Decimal(1))]
    encoders = attach(Collateral(held, grace_ms=0), fanout, diag)
    Feed(fanout, diag, encoders=encoders).message(
        asset_frame(1000, ("BTCUSD",)), StreamStatus("asset index")
    )
    assert "\\x1b[2J\\x9bX is not valued" in err.getvalue()
    assert "\x1b" not in err.getvalue() and "\x9b" not in err.getvalue()


def _json_lines(
    frames: list[str], holds: list[str], *also: Consumer, count: int | None = None
) -> tuple[bytes, Collateral]:
    out = io.BytesIO()
    diag = Diagnostics(io.StringIO())
    fanout = Fanout([JsonLinesSink(out), *also])
    tracker = Collateral(parse_holds(holds))
    feed = Feed(fanout, diag, count=count, encoders=attach(tracker, fanout, diag))
    status = StreamStatus("asset index")
    for frame in frames:
        feed.message(frame, status)
    return out.getvalue(), tracker


@pytest.mark.parametrize("count", [None, 8])
def test_frames_the_feed_decodes_again_are_valued_once_by_python(count: int | None) -> None:
    # A resend, an older frame and a frame with two event times are left to
    # the Python path after C has valued them, as is the frame -n cuts short:
    # the lines C made for them are dropped, and the state is Python's.
    symbols = ("ADAUSD", "BTCUSD", "USDTUSD")
    frames = [asset_frame(t, symbols) for t in (1000, 2000, 2000, 1500, 3000)]
    mixed = json.loads(asset_frame(4000, symbols))
    mixed["data"][0]["E"] = 3500
    frames += [json.dumps(mixed), asset_frame(5000, symbols)]
    holds = ["BTC=1", "USDT=-1000"]
    python, python_tracker = _json_lines(frames, holds, Reports(), count=count)
    c, c_tracker = _json_lines(frames, holds, count=count)
    assert c == python
    expected = [1000, 2000, 3000, 4000, 5000] if count is None else [1000, 2000, 3000]
    reports = [json.loads(line) for line in c.splitlines() if b'"collateral"' in line]
    assert [r["event_time"] for r in reports] == expected
    assert c_tracker.latest == python_tracker.latest


def test_json_only_reports_are_made_in_c_and_read_the_same() -> None:
    frames = [
        asset_frame(t, symbols)
        for t, symbols in (
            (1000, ("ADAUSD", "BTCUSD")),
            (2000, ("BTCUSD", "USDTUSD")),
            (3000, ("BTCUSD", "USDTUSD", "ADAUSD")),
            (4000, ("USDTUSD",)),
            (5000, ("ADAUSD", "BTCUSD", "USDTUSD")),
        )
    ]
    holds = ["BTC=1", "USDT=-1000"]
    # A reader of reports (like the metrics) keeps the whole report in Python.
    reports = Reports()
    python, python_tracker = _json_lines(frames, holds, reports)
    c, c_tracker = _json_lines(frames, holds)
    assert c == python and c.count(b'"type":"collateral"') == 5
    assert c_tracker._pending is not None  # the last frame's report was made in C
    assert c_tracker.latest == python_tracker.latest
    assert [r.event_time for r in reports.reports] == [1000, 2000, 3000, 4000, 5000]


def test_only_line_takers_let_the_report_be_made_in_c() -> None:
    assert Fanout([JsonLinesSink(io.BytesIO())]).takes_encoded_collateral
    assert not Fanout([JsonLinesSink(io.BytesIO()), Reports()]).takes_encoded_collateral
