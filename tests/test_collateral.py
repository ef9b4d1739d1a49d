"""Collateral valuation (binmon.collateral) and its JSON line, against plain Decimal."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal, localcontext
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.collateral import (
    Collateral,
    Holding,
    HoldingError,
    Quote,
    parse_hold,
    parse_holds,
    parse_quantity,
    plain,
    quotes_in_lines,
    report,
)
from binmon.jsonl import encode_assets, encode_collateral
from binmon.protocol import AssetIndex, decode_message
from tests import test_speedups as speedup_cases

_speedups = pytest.importorskip("binmon._speedups")


def _shared_data() -> Path:
    env = os.environ.get("BINMON_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not path.is_dir():
        pytest.skip("shared data is not available")
    return path


def _decode(line: bytes) -> dict[str, object]:
    # Floats as Decimal: the line's numbers are compared exactly.
    decoded: dict[str, object] = json.loads(line, parse_float=Decimal)
    return decoded


def _quote(symbol: str, index: str, bid: str, ask: str, time: int = 1) -> Quote:
    return Quote(symbol, time, index, bid, ask)


# --- the FAQ example and the line -----------------------------------------------


def test_faq_example_positive_balances_at_the_bid_rate() -> None:
    # BINANCE.md: 200 USDT at bid rate 0.9801 plus 220 BUSD at 1 → 416.02.
    holdings = parse_holds(["USDT=200", "busd=220"])
    quotes = {
        "USDTUSD": _quote("USDTUSD", "0.9999", "0.9801", "1.0197"),
        "BUSDUSD": _quote("BUSDUSD", "1", "1", "1"),
    }
    result, problems = report(holdings, quotes, 1)
    assert problems == []
    assert result.total_value == Decimal("416.02")
    assert [a.rate for a in result.assets] == ["0.9801", "1"]
    assert result.assets[0].haircut == Decimal("3.96")  # 200 × 0.9999 − 196.02
    assert result.share(result.assets[1]) == Decimal("52.88")  # 220 / 416.02, display only


def test_negative_balance_at_the_ask_rate() -> None:
    result, _ = report(
        [Holding("USDT", Decimal("-1000"))], {"USDTUSD": _quote("USDTUSD", "1", "0.99", "1.01")}, 1
    )
    row = result.assets[0]
    assert (row.rate, row.value, row.haircut) == ("1.01", Decimal("-1010.00"), Decimal("10.00"))


def test_collateral_line_exactly_as_spec() -> None:
    holdings = parse_holds(["BTC=0.5", "USDT=-100.25", "NOPE=3"])
    quotes = {
        "BTCUSD": _quote("BTCUSD", "64000.12345678", "63936.12333333", "64064.12358024", 7),
        "USDTUSD": _quote("USDTUSD", "0.99990000", "0.99980001", "0.99999999", 7),
    }
    result, _ = report(holdings, quotes, 1700000000123)
    line = encode_collateral(result)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line == (
        b'{"type":"collateral","event_time":1700000000123,"assets":['
        b'{"asset":"BTC","symbol":"BTCUSD","quantity":0.5,"index_price":64000.12345678,'
        b'"rate":63936.12333333,"value":31968.061666665,"haircut":32.000061725},'
        b'{"asset":"USDT","symbol":"USDTUSD","quantity":-100.25,"index_price":0.99990000,'
        b'"rate":0.99999999,"value":-100.2499989975,"haircut":0.0100239975},'
        b'{"asset":"NOPE","symbol":"NOPEUSD","quantity":3,"index_price":null,"rate":null,'
        b'"value":null,"haircut":null}],'
        b'"total_value":31867.8116676675,"total_haircut":32.0100857225}\n'
    )


def test_zero_is_written_without_a_sign() -> None:
    result, _ = report(parse_holds(["BTC=-0"]), {"BTCUSD": _quote("BTCUSD", "2", "1", "3")}, 1)
    assert b'"quantity":0,' in encode_collateral(result)
    assert b"-0" not in encode_collateral(result)
    assert result.assets[0].rate == "1"  # -0 is ≥ 0: the bid rate


@pytest.mark.parametrize(
    ("text", "asset", "quantity"),
    [
        ("BTC=0.5", "BTC", "0.5"),
        ("usdt=-1200", "USDT", "-1200"),
        ("eth=+2", "ETH", "2"),
        (" BNB = .25 ", "BNB", "0.25"),
        ("SOL=007.10", "SOL", "7.10"),
    ],
)
def test_parse_hold(text: str, asset: str, quantity: str) -> None:
    h = parse_hold(text)
    assert (h.asset, plain(h.quantity), h.symbol) == (asset, quantity, f"{asset}USD")


@pytest.mark.parametrize(
    "text",
    ["BTC", "=1", "BTC=", "BTC=1e3", "BTC=1,000", "BTC=1 000", "BTC=0x10", "BTC=nan",
     "BTC=inf", "BTC=--1", "BT C=1", "BTC=" + "9" * 101, "BTC=1.2.3", "BTC/=1"],
)  # fmt: skip
def test_parse_hold_refuses(text: str) -> None:
    with pytest.raises(HoldingError):
        parse_hold(text)


def test_a_too_long_quantity_says_why() -> None:
    assert parse_hold("BTC=-" + "9" * 99).quantity == Decimal("-" + "9" * 99)
    with pytest.raises(HoldingError, match="quantity has 101 characters, more than the 100"):
        parse_hold("BTC=" + "9" * 101)


def test_an_asset_twice_is_refused() -> None:
    with pytest.raises(HoldingError, match="BTC is given more than once"):
        parse_holds(["BTC=1", "btc=2"])


# --- frames ---------------------------------------------------------------------


def _event(symbol: str, time: int, index: str, bid: str, ask: str) -> AssetIndex:
    return AssetIndex(symbol, time, index, "0.1", "0.1", bid, ask, "0.05", "0.05", bid, ask)


def test_latest_entry_wins_and_only_held_frames_count() -> None:
    c = Collateral(parse_holds(["BTC=1"]))
    assert not c.events([_event("ETHUSD", 5, "3000", "2900", "3100")])
    assert c.events([_event("BTCUSD", 5, "100", "90", "110")])
    assert c.events([_event("BTCUSD", 4, "1", "1", "1")])  # older: held, but not newer
    assert c.report(5)[0].total_value == Decimal("90")
    assert c.events([_event("BTCUSD", 6, "100", "95", "105")])
    assert c.report(6)[0].total_value == Decimal("95")


def test_unvalued_asset_is_named_once_after_the_grace() -> None:
    c = Collateral(parse_holds(["BTC=1", "XYZ=2"]), grace_ms=2000)
    c.events([_event("BTCUSD", 1000, "100", "90", "110")])
    assert c.report(1000)[1] == []
    assert c.report(2999)[1] == []
    first = c.report(3000)
    assert first[1] == ["XYZ is not valued: no asset index entry XYZUSD has been seen"]
    assert c.report(4000)[1] == []
    assert [a.valued for a in first[0].assets] == [True, False]
    assert first[0].total_value == Decimal(90)


def test_replaced_holdings_keep_the_quotes_seen() -> None:
    c = Collateral(parse_holds(["BTC=1"]))
    c.events([_event("BTCUSD", 1, "100", "90", "110")])
    c.replace([Holding("BTC", Decimal("-2")), Holding("ETH", Decimal("1"))])
    assert not c.events([_event("SOLUSD", 2, "1", "1", "1")])
    result, _ = c.report(2)
    assert result.total_value == Decimal("-220")
    assert c.events([_event("ETHUSD", 3, "10", "9", "11")])


def test_unvaluable_numbers_are_reported_not_rounded() -> None:
    quantity = Decimal("1." + "1" * 98)
    rate = "1." + "3" * 950  # a product of more than 1000 digits cannot be exact
    result, problems = report(
        [Holding("BTC", quantity)], {"BTCUSD": _quote("BTCUSD", rate, rate, rate)}, 1
    )
    assert problems == ["BTC cannot be valued exactly"]
    assert result.assets[0].value is None and result.total_value == 0


# --- properties against plain Decimal -------------------------------------------


def _decimals(max_digits: int, max_scale: int, signed: bool) -> st.SearchStrategy[Decimal]:
    return st.builds(
        lambda sign, digits, scale: Decimal(sign * digits).scaleb(-scale),
        st.sampled_from([1, -1]) if signed else st.just(1),
        st.one_of(st.just(0), st.integers(0, 10**max_digits - 1)),
        st.integers(0, max_scale),
    )


_QUANTITIES = _decimals(60, 30, signed=True)
_RATES = _decimals(16, 10, signed=False)


@settings(max_examples=300)
@given(
    held=st.lists(
        st.tuples(st.sampled_from(["BTC", "ETH", "USDT", "BNB", "XRP", "NONE"]), _QUANTITIES),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    rates=st.lists(st.tuples(_RATES, _RATES, _RATES), min_size=5, max_size=5),
)
def test_valuation_matches_plain_decimal(
    held: list[tuple[str, Decimal]], rates: list[tuple[Decimal, Decimal, Decimal]]
) -> None:
    # The input goes through --hold's own parser, as the user writes it.
    holdings = parse_holds([f"{asset}={plain(q)}" for asset, q in held])
    quotes = {
        f"{a}USD": _quote(f"{a}USD", *(plain(x) for x in r))
        for a, r in zip(["BTC", "ETH", "USDT", "BNB", "XRP"], rates, strict=True)
    }
    result, problems = report(holdings, quotes, 1)
    line = encode_collateral(result)
    decoded = _decode(line)
    assert problems == []
    with localcontext() as ctx:
        ctx.prec = 10_000  # a reference that cannot round at these sizes
        total_value = total_haircut = Decimal(0)
        for (asset, quantity), row, out in zip(held, result.assets, decoded["assets"], strict=True):  # type: ignore[arg-type]
            assert row.quantity == quantity
            if asset == "NONE":
                assert row.value is None and out["value"] is None and out["rate"] is None
                continue
            index, bid, ask = rates[["BTC", "ETH", "USDT", "BNB", "XRP"].index(asset)]
            rate = bid if quantity >= 0 else ask
            value = quantity * rate
            haircut = quantity * index - value
            assert (row.value, row.haircut) == (value, haircut)
            assert (out["value"], out["haircut"], out["rate"]) == (value, haircut, rate)
            if bid <= index <= ask:
                assert haircut >= 0  # the buffer only ever costs
            total_value += value
            total_haircut += haircut
    assert (result.total_value, result.total_haircut) == (total_value, total_haircut)
    assert (decoded["total_value"], decoded["total_haircut"]) == (total_value, total_haircut)
    # Numbers are positional: no exponent anywhere in the line.
    assert not re.search(rb"[0-9][eE][+-]?[0-9]", line)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["BTC", "ETH", "SOL"]), _RATES), max_size=8))
def test_fast_path_lines_give_the_same_quotes(entries: list[tuple[str, Decimal]]) -> None:
    events = [
        _event(f"{asset}USD", 1000, plain(x), plain(x * 2), plain(x * 3)) for asset, x in entries
    ]
    frame = msgspec.json.encode({"stream": "!assetIndex@arr", "data": events})
    result = _speedups.asset_index_lines(frame)
    lines = result[0] if result is not None else encode_assets(events)
    slow, fast = (
        Collateral(parse_holds(["BTC=1", "SOL=-2"])),
        Collateral(parse_holds(["BTC=1", "SOL=-2"])),
    )
    assert slow.events(events) == fast.lines(lines)  # the same newest held time, or None
    assert slow.latest == fast.latest
    assert slow.report(1000) == fast.report(1000)


def test_fast_path_lines_of_real_entries() -> None:
    # The REST answer's entries (real digits) as one stream frame.
    lines = (_shared_data() / "asset_index_frames.jsonl").read_bytes().splitlines()
    rest = msgspec.json.decode(lines[1])
    events = [
        AssetIndex(
            r["symbol"], r["time"], r["index"], r["bidBuffer"], r["askBuffer"], r["bidRate"],
            r["askRate"], r["autoExchangeBidBuffer"], r["autoExchangeAskBuffer"],
            r["autoExchangeBidRate"], r["autoExchangeAskRate"],
        )
        for r in rest
    ]  # fmt: skip
    message = msgspec.json.encode({"stream": "!assetIndex@arr", "data": events})
    result = _speedups.asset_index_lines(message)
    assert result is not None
    holds = [f"{e.symbol.removesuffix('USD')}=1" for e in events]
    slow, fast = Collateral(parse_holds(holds)), Collateral(parse_holds(holds))
    assert slow.events(decode_message(message).events) and fast.lines(result[0])  # type: ignore[arg-type]
    assert slow.latest == fast.latest and len(fast.latest) == len(holds) >= 3


def test_quantity_round_trips_exactly() -> None:
    text = "-123456789012345678901234567890.123456789012345678901234567890"
    assert plain(parse_quantity(text)) == text
    assert quotes_in_lines(b"", []) == []


def test_the_readme_example_is_exact() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith('{"type":"collateral"'))
    report_line = _decode(line.encode())
    for a in report_line["assets"]:  # type: ignore[attr-defined]
        assert a["value"] == a["quantity"] * a["rate"]
        assert a["haircut"] == a["quantity"] * a["index_price"] - a["value"]
    assets = report_line["assets"]
    assert report_line["total_value"] == sum(a["value"] for a in assets)  # type: ignore[attr-defined]


# --- the numbers as a line writes them --------------------------------------------


def _reference(quantity: Decimal, index: str, rate: str) -> tuple[Decimal, Decimal]:
    with localcontext() as ctx:
        ctx.prec = 10_000  # cannot round at these sizes
        worth = quantity * Decimal(rate)
        return worth, quantity * Decimal(index) - worth


def _text(value: Decimal) -> str:
    # Positional, every place the exact product has (a reference, not binmon's plain()).
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    body = "".join(map(str, digits))
    if exponent >= 0:
        body = body + "0" * exponent
    else:
        body = body.rjust(-exponent + 1, "0")
        body = f"{body[:exponent]}.{body[exponent:]}"
    return f"-{body}" if sign and value != 0 else body


_TEXTS = _decimals(40, 20, signed=True).map(plain)


@settings(max_examples=400)
@given(
    quantities=st.lists(_decimals(60, 30, signed=True), min_size=1, max_size=4),
    index=_TEXTS,
    bid=_TEXTS,
    ask=_TEXTS,
)
def test_results_are_written_with_every_place_and_no_exponent(
    quantities: list[Decimal], index: str, bid: str, ask: str
) -> None:
    # Text for text: the digits and the places of the exact results (zero unsigned).
    holdings = [Holding(f"A{n}", q) for n, q in enumerate(quantities)]
    quotes = {h.symbol: _quote(h.symbol, index, bid, ask) for h in holdings}
    result, problems = report(holdings, quotes, 1)
    assert problems == []
    values, haircuts = [], []
    for h, row in zip(holdings, result.assets, strict=True):
        worth, haircut = _reference(h.quantity, index, ask if h.quantity < 0 else bid)
        assert (row.value_text, row.haircut_text) == (_text(worth), _text(haircut))
        assert (row.value, row.haircut) == (worth, haircut)
        values.append(worth)
        haircuts.append(haircut)
    with localcontext() as ctx:
        ctx.prec = 10_000
        total_value, total_haircut = sum(values, Decimal(0)), sum(haircuts, Decimal(0))
    assert (result.total_value_text, result.total_haircut_text) == (
        _text(total_value),
        _text(total_haircut),
    )
    line = encode_collateral(result).decode()
    assert f'"total_value":{_text(total_value)},' in line
    assert all(f'"quantity":{plain(h.quantity)},' in line for h in holdings)


# --- the report made in C (Collateral.encoders) against the Python path ------------


def _both(holdings: tuple[Holding, ...], messages: list[bytes]) -> int:
    """Frame by frame, the valued encoder (C, falling back to Python) and the
    Python path give the same lines and leave the same state, as the feed and
    the collateral consumer drive them; the number of frames C valued."""
    slow, fast = Collateral(holdings), Collateral(holdings)
    encoders = fast.encoders()
    assert encoders is not None
    served = 0
    for message in messages:
        python = speedup_cases.reference(message)
        assert python is not None
        lines = python[0]
        newest = slow.lines(lines)
        expected, warnings = None, []
        if newest is not None:
            report_, warnings = slow.report(newest)
            expected = encode_collateral(report_)
        made = encoders[0](message)
        assert made is not None and made[0].startswith(lines)
        if fast.took(made[0]):
            served += 1
            got: bytes | None = made[0][len(lines) :]
            assert warnings == []  # C values only frames Python has nothing to warn about
        else:
            assert made[0] == lines
            newest = fast.lines(lines)
            got = None if newest is None else encode_collateral(fast.report(newest)[0])
        assert got == expected
    assert fast.latest == slow.latest
    return served


@settings(max_examples=150)
@given(data=st.data(), holdings=speedup_cases.holdings_cases())
def test_valued_in_c_is_the_python_line_frame_after_frame(
    data: st.DataObject, holdings: tuple[Holding, ...]
) -> None:
    held = tuple(h.asset for h in holdings)
    messages = [
        data.draw(speedup_cases.frame_messages(held if data.draw(st.integers(0, 3)) else ()))
        for _ in range(data.draw(st.integers(1, 6)))
    ]
    _both(holdings, [m for m in messages if b"recv_time" not in m])


def _message(*events: AssetIndex) -> bytes:
    return msgspec.json.encode({"stream": "!assetIndex@arr", "data": events})


def test_valued_in_c_serves_a_steady_stream_and_keeps_the_state() -> None:
    holdings = parse_holds(["BTC=1", "USDT=-1000", "ETH=0.25"])
    frames = [
        _message(
            _event("BTCUSD", t, f"6{t}.5", f"6{t}.25", f"6{t}.75"),
            _event("ETHUSD", t, "2000.1", "1999.9", "2000.3"),
            _event("USDTUSD", t, "0.9990", "0.9989", "0.99910000"),
        )
        for t in range(1000, 1010)
    ]
    # The first report is Python's; every later frame is valued in C.
    assert _both(holdings, frames) == len(frames) - 1
    # A frame without ETH (C declines), then an older BTC entry (C declines too).
    without_eth = _message(
        _event("BTCUSD", 1010, "1", "1", "1"), _event("USDTUSD", 1010, "1", "1", "1")
    )
    stale = _message(_event("BTCUSD", 5, "1", "1", "1"), _event("USDTUSD", 1011, "1", "1", "1"))
    assert _both(holdings, [*frames, without_eth, stale]) == 9


def test_replaced_holdings_go_back_to_python_until_valued() -> None:
    message = _message(_event("BTCUSD", 1, "2", "1", "3"), _event("ETHUSD", 1, "5", "4", "6"))
    tracker = Collateral(parse_holds(["BTC=1"]))
    encoders = tracker.encoders()
    assert encoders is not None
    encode = encoders[0]

    def valued() -> bool:
        made = encode(message)
        assert made is not None
        return tracker.took(made[0])

    assert not valued()  # nothing valued yet
    made = encode(message)
    assert made is not None
    tracker.report(tracker.lines(made[0]) or 0)
    assert valued()
    tracker.replace(parse_holds(["BTC=1", "SOL=2"]))
    assert not valued()  # SOL was never valued
    assert tracker.latest["BTCUSD"].index_price == "2"  # the frame C valued is taken in


def test_a_frame_valued_but_not_delivered_is_not_taken() -> None:
    # The feed may decode a frame again instead of delivering the fast lines
    # (a duplicate, -n): what C valued then must not count.
    message = _message(_event("BTCUSD", 1, "2", "1", "3"))
    later = _message(_event("BTCUSD", 2, "4", "3", "5"))
    tracker = Collateral(parse_holds(["BTC=1"]))
    encoders = tracker.encoders()
    assert encoders is not None
    first = encoders[0](message)
    assert first is not None
    tracker.report(tracker.lines(first[0]) or 0)
    offered = encoders[0](later)
    assert offered is not None and offered[5] == 2
    tracker.quote(Quote("BTCUSD", 1, "2", "1", "3"))  # the Python path took over
    assert not tracker.took(offered[0])
    assert tracker.latest["BTCUSD"].event_time == 1
