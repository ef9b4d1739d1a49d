"""Alert rules on real event sequences: two real exchangeInfo snapshots, two real
bracket ladders, real asset index frames; feed health on a real StreamStatus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from binmon.alerts import (
    ALL,
    BRACKETS,
    BUFFER,
    DELISTING,
    DELISTING_STATUSES,
    FEED,
    KINDS,
    LEVERAGE_CUT,
    LISTING,
    POSITION,
    STATUS,
    Alert,
    BufferWatch,
    FeedWatch,
    PositionView,
    contract_alerts,
    parse_kinds,
)
from binmon.jsonl import encode_line
from binmon.leverage import NotionalOutOfRange, decimal_text, position
from binmon.protocol import PERPETUAL_DELIVERY_MS, AssetIndex, ContractInfo, decode_payload
from binmon.state import ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus

EVERY = parse_kinds([ALL])


def _contract_payload(s: dict[str, Any], event_time: int, bks: str = "[]") -> bytes:
    """The ``!contractInfo`` payload the exchange sends for an exchangeInfo symbol."""
    fields = {
        "e": "contractInfo",
        "E": event_time,
        "s": s["symbol"],
        "ps": s["pair"],
        "ct": s["contractType"],
        "dt": s["deliveryDate"],
        "ot": s["onboardDate"],
        "cs": s["status"],
    }
    return json.dumps(fields)[:-1].encode() + b',"bks":' + bks.encode() + b"}"


def _event(payload: bytes) -> ContractInfo:
    frame = decode_payload("!contractInfo", payload)
    assert not frame.malformed, frame.problem
    (event,) = frame.events
    assert isinstance(event, ContractInfo)
    return event


def _run(book: ContractBook, payloads: list[bytes], kinds: frozenset[str]) -> list[Alert]:
    alerts: list[Alert] = []
    for payload in payloads:
        event = _event(payload)
        alerts += contract_alerts(event, book.apply(event), kinds)
    return alerts


@pytest.fixture
def snapshots(shared_data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    before = json.loads((shared_data / "exchange_info_2025-11-26.json").read_text())
    after = json.loads((shared_data / "exchange_info.json").read_text())
    return before, after


def _replay_snapshots(
    before: dict[str, Any], after: dict[str, Any], kinds: frozenset[str]
) -> list[Alert]:
    """Seed with the November state, then every December symbol as an event."""
    book = ContractBook()
    book.seed(contracts_from_exchange_info(before))
    time = after["serverTime"]
    return _run(book, [_contract_payload(s, time) for s in after["symbols"]], kinds)


def test_listings_from_real_snapshots(snapshots: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = snapshots
    alerts = _replay_snapshots(before, after, frozenset({LISTING}))
    new = {s["symbol"] for s in after["symbols"]} - {s["symbol"] for s in before["symbols"]}
    assert len(new) == 13  # PROVENANCE.md: 13 new symbols
    assert [a.symbol for a in alerts] == [
        s["symbol"] for s in after["symbols"] if s["symbol"] in new
    ]
    assert {a.kind for a in alerts} == {LISTING}
    eth = next(a for a in alerts if a.symbol == "ETHUSDT_260626")
    assert eth.event_time == after["serverTime"]
    assert eth.message.startswith("ETHUSDT_260626 listed: NEXT_QUARTER, status ")


def test_status_changes_and_delistings_from_real_snapshots(
    snapshots: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = snapshots
    alerts = _replay_snapshots(before, after, frozenset({STATUS, DELISTING}))
    by_kind: dict[str, dict[str, str]] = {STATUS: {}, DELISTING: {}}
    for a in alerts:
        assert a.symbol is not None
        assert a.symbol not in by_kind[a.kind], "one alert per kind and event"
        by_kind[a.kind][a.symbol] = a.message

    old = {s["symbol"]: s for s in before["symbols"]}
    changed = {
        s["symbol"]: (old[s["symbol"]]["status"], s["status"])
        for s in after["symbols"]
        if s["symbol"] in old and old[s["symbol"]]["status"] != s["status"]
    }
    assert set(by_kind[STATUS]) == set(changed)
    # PROVENANCE.md's transitions, named.
    assert by_kind[STATUS]["LITUSDT"] == "LITUSDT status PENDING_TRADING → SETTLING"
    assert by_kind[STATUS]["BTCUSDT_260327"] == "BTCUSDT_260327 status PENDING_TRADING → TRADING"
    assert changed["BTCUSDT_251226"] == ("TRADING", "DELIVERING")

    # Delistings: into a closing status, or a perpetual that got a delivery date.
    closing = {s for s, (_, new) in changed.items() if new in DELISTING_STATUSES}
    dated = {
        s["symbol"]
        for s in after["symbols"]
        if s["symbol"] in old
        and old[s["symbol"]]["deliveryDate"] == PERPETUAL_DELIVERY_MS
        and s["deliveryDate"] != PERPETUAL_DELIVERY_MS
    }
    assert set(by_kind[DELISTING]) == closing | dated
    for symbol in ("ALPHAUSDT", "BAKEUSDT", "HIFIUSDT", "OMNIUSDT", "BSWUSDT", "UXLINKUSDT"):
        assert symbol in by_kind[DELISTING]
    assert "BTCUSDT_260327" not in by_kind[DELISTING]  # going live is no delisting
    hifi = by_kind[DELISTING]["HIFIUSDT"]
    assert hifi == (
        "HIFIUSDT delisting: status TRADING → SETTLING, "
        "delivery set for 2025-12-05 06:00 UTC (was perpetual)"
    )
    # UXLINKUSDT already had a date: only its status makes it a delisting.
    assert by_kind[DELISTING]["UXLINKUSDT"] == "UXLINKUSDT delisting: status TRADING → SETTLING"


def test_a_repeated_event_raises_nothing(snapshots: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = snapshots
    book = ContractBook()
    book.seed(contracts_from_exchange_info(before))
    hifi = next(s for s in after["symbols"] if s["symbol"] == "HIFIUSDT")
    payload = _contract_payload(hifi, after["serverTime"])
    assert [a.kind for a in _run(book, [payload], EVERY)] == [DELISTING, STATUS]
    # The same state again (what a resend would be, were it not deduped): nothing.
    assert _run(book, [payload, _contract_payload(hifi, after["serverTime"] + 1)], EVERY) == []


class _Tier(msgspec.Struct):
    bracket: int
    initialLeverage: msgspec.Raw
    notionalCap: msgspec.Raw
    notionalFloor: msgspec.Raw
    maintMarginRatio: msgspec.Raw
    cum: msgspec.Raw


class _Entry(msgspec.Struct):
    symbol: str
    brackets: list[_Tier]


def _ladders(shared_data: Path, symbol: str) -> tuple[str, str]:
    """``bks`` of ``symbol`` in 2023 and in 2024, numbers as the files have them."""

    def bks(name: str) -> str:
        entries = msgspec.json.decode((shared_data / name).read_bytes(), type=list[_Entry])
        (entry,) = [e for e in entries if e.symbol == symbol]
        return (
            "["
            + ",".join(
                f'{{"bs":{t.bracket},"bnf":{bytes(t.notionalFloor).decode()},'
                f'"bnc":{bytes(t.notionalCap).decode()},"mmr":{bytes(t.maintMarginRatio).decode()},'
                f'"cf":{bytes(t.cum).decode()},"ma":{bytes(t.initialLeverage).decode()}}}'
                for t in entry.brackets
            )
            + "]"
        )

    return bks("leverage_brackets_2023.json"), bks("leverage_brackets.json")


def _symbol(symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
    }


def _ladder_alerts(first: str, second: str, symbol: str = "BTCUSDT") -> list[Alert]:
    book = ContractBook()
    s = _symbol(symbol)
    return _run(
        book,
        [_contract_payload(s, 1, first), _contract_payload(s, 2, second)],
        frozenset({BRACKETS, LEVERAGE_CUT}),
    )


def test_btcusdt_2023_to_2024_is_a_bracket_change_but_no_cut(shared_data: Path) -> None:
    old, new = _ladders(shared_data, "BTCUSDT")
    alerts = _ladder_alerts(old, new)
    # A ladder seen first is no change; the second one is, and BTCUSDT's 2024
    # ladder only loosened: every bracket's max leverage rose or stayed.
    assert [a.kind for a in alerts] == [BRACKETS]
    assert alerts[0].event_time == 2
    # Numbers are compared as numbers (cum 50 is 50.0), shown as sent, and
    # a rebuilt ladder stays one line.
    assert alerts[0].message == (
        "BTCUSDT brackets changed: bracket 2 cap 250000 → 600000, "
        "bracket 3 floor 250000 → 600000, bracket 3 maint margin ratio 0.01 → 0.0065, "
        "bracket 3 cum 1300 → 950.0 and 35 more"
    )
    assert "\n" not in alerts[0].message


def test_btcusdt_2024_back_to_2023_is_a_leverage_cut(shared_data: Path) -> None:
    old, new = _ladders(shared_data, "BTCUSDT")
    alerts = _ladder_alerts(new, old)
    assert [a.kind for a in alerts] == [BRACKETS, LEVERAGE_CUT]
    cut = alerts[1].message
    assert cut.startswith(
        "BTCUSDT leverage cut: bracket 3 maint margin ratio 0.0065 → 0.01, "
        "bracket 3 max leverage 75 → 50, bracket 4 maint margin ratio 0.01 → 0.025, "
    )


def test_reefusdt_2023_to_2024_is_a_real_leverage_cut(shared_data: Path) -> None:
    old, new = _ladders(shared_data, "REEFUSDT")
    alerts = _ladder_alerts(old, new, "REEFUSDT")
    assert [a.kind for a in alerts] == [BRACKETS, LEVERAGE_CUT]
    assert alerts[1].message == (
        "REEFUSDT leverage cut: bracket 1 max leverage 20 → 10, "
        "bracket 2 max leverage 10 → 8, bracket 3 max leverage 8 → 6"
    )


def test_a_disappearing_bracket_is_a_cut() -> None:
    two = (
        '[{"bs":1,"bnf":0,"bnc":5000,"mmr":0.01,"cf":0,"ma":50},'
        '{"bs":2,"bnf":5000,"bnc":25000,"mmr":0.025,"cf":75,"ma":20}]'
    )
    one = '[{"bs":1,"bnf":0,"bnc":5000,"mmr":0.01,"cf":0,"ma":50}]'
    alerts = _ladder_alerts(two, one, "XUSDT")
    assert [(a.kind, a.message) for a in alerts] == [
        (BRACKETS, "XUSDT brackets changed: bracket 2 removed"),
        (LEVERAGE_CUT, "XUSDT leverage cut: bracket 2 removed"),
    ]
    # Appearing is no cut; equal values in other digits are no change at all.
    assert [a.kind for a in _ladder_alerts(one, two, "XUSDT")] == [BRACKETS]
    assert _ladder_alerts(one, one.replace('"mmr":0.01', '"mmr":0.0100'), "XUSDT") == []


def _view(brackets: Any, notional: str) -> PositionView:
    try:
        p = position(brackets, notional)
    except NotionalOutOfRange:
        return PositionView(notional, None, None, None, None)
    return PositionView(
        notional,
        p.bracket.bracket,
        p.bracket.max_leverage,
        p.bracket.maint_margin_ratio,
        decimal_text(p.maintenance_margin),
    )


def test_position_alert_from_the_real_ladders(shared_data: Path) -> None:
    old, new = _ladders(shared_data, "BTCUSDT")
    s = _symbol("BTCUSDT")
    book = ContractBook()
    first, second = _event(_contract_payload(s, 1, old)), _event(_contract_payload(s, 2, new))
    book.apply(first)
    changes = book.apply(second)
    kinds = frozenset({POSITION})
    before, after = _view(first.brackets, "400000"), _view(second.brackets, "400000")
    (alert,) = contract_alerts(second, changes, kinds, after, before)
    # 2023: bracket 3, 50x, 400000 x 0.01 - 1300; 2024: bracket 2, 100x, 400000 x 0.005 - 50.
    assert alert.message == (
        "BTCUSDT position 400000: bracket 3 → 2, max leverage 50 → 100, "
        "maintenance margin 2700 → 1950"
    )
    # A position the new ladder no longer holds.
    big = _view(first.brackets, "450000000"), _view(second.brackets, "450000000")
    assert big[0].bracket == 10 and big[1].bracket == 8
    huge = _view(second.brackets, "1500000000"), _view(first.brackets, "1500000000")
    (gone,) = contract_alerts(second, changes, kinds, huge[1], huge[0])
    assert gone.message.startswith("BTCUSDT position 1500000000: bracket 12 → none (above")
    # Same bracket, same numbers: no alert; no position: no alert.
    small = _view(first.brackets, "1000"), _view(second.brackets, "1000")
    assert contract_alerts(second, changes, kinds, small[1], small[0]) == []
    assert contract_alerts(second, changes, kinds) == []


def test_kinds_not_asked_for_raise_nothing(
    snapshots: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = snapshots
    assert _replay_snapshots(before, after, frozenset({BUFFER, FEED})) == []


def test_parse_kinds() -> None:
    assert parse_kinds(["all"]) == frozenset(KINDS)
    assert parse_kinds(["Listing", "leverage-cut"]) == {LISTING, LEVERAGE_CUT}
    with pytest.raises(ValueError, match="unknown alert kind"):
        parse_kinds(["listings"])


def test_json_line_is_specs() -> None:
    alert = Alert(LEVERAGE_CUT, "BTCUSDT", 1700000000000, "BTCUSDT leverage cut: …")
    assert json.loads(encode_line(alert)) == {
        "type": "alert",
        "kind": "leverage-cut",
        "symbol": "BTCUSDT",
        "event_time": 1700000000000,
        "message": "BTCUSDT leverage cut: …",
    }
    assert encode_line(Alert(FEED, None, None, "x")).startswith(
        b'{"type":"alert","kind":"feed","symbol":null,"event_time":null,'
    )


def test_messages_are_printable_whatever_the_network_sends() -> None:
    hostile = "EVIL\x1b[2J\x9b31m[bold]USDT\n"
    event = ContractInfo(hostile, 5, None, None, "TRADING\x07", None, None, None, None)
    book = ContractBook()
    book.seed(contracts_from_exchange_info({"symbols": []}))
    (listing, *_) = contract_alerts(event, book.apply(event), EVERY)
    assert listing.symbol == hostile  # the JSON field keeps the truth, escaped by JSON
    assert all(ch.isprintable() for ch in listing.message)
    assert "\\x1b" in listing.message and "\\x07" in listing.message


# -- buffers -------------------------------------------------------------------


def _assets(shared_data: Path) -> list[AssetIndex]:
    line = (shared_data / "asset_index_frames.jsonl").read_text().splitlines()[0]
    frame = decode_payload("!assetIndex@arr", line.encode())
    assert not frame.malformed
    return frame.events  # type: ignore[return-value]


def test_buffer_alert_only_when_a_value_differs(shared_data: Path) -> None:
    (usdt,) = _assets(shared_data)
    watch = BufferWatch()
    assert watch.update([usdt]) == []  # a first sighting is not a change
    same_value = msgspec.structs.replace(
        usdt, event_time=usdt.event_time + 1000, bid_buffer=usdt.bid_buffer + "0"
    )
    assert watch.update([same_value]) == []
    # The index and the rates move every second; only buffers raise an alert.
    moved = msgspec.structs.replace(
        usdt, event_time=usdt.event_time + 2000, index_price="1.5", bid_rate="1.4"
    )
    assert watch.update([moved]) == []
    wider = msgspec.structs.replace(
        usdt, event_time=usdt.event_time + 3000, ask_buffer="0.05", auto_exchange_bid_buffer="0.02"
    )
    (alert,) = watch.update([wider])
    assert (alert.kind, alert.symbol, alert.event_time) == (BUFFER, "USDTUSD", wider.event_time)
    assert alert.message == (
        f"USDTUSD ask buffer {usdt.ask_buffer} → 0.05, "
        f"auto-exchange bid buffer {usdt.auto_exchange_bid_buffer} → 0.02"
    )
    # The new values are the reference from now on.
    assert watch.update([wider]) == []


# -- feed ----------------------------------------------------------------------


def test_feed_alert_once_per_outage_and_once_on_recovery() -> None:
    assets, contracts = StreamStatus("asset index"), StreamStatus("contract info")
    watch = FeedWatch(after=30)
    watch.watch(assets, max_silence=10)
    watch.watch(contracts)
    for s in (assets, contracts):
        s.state, s.connected_since = "connected", 0.0
    assets.message(0.5)
    assert watch.check(1.0) == []
    # The asset stream goes silent at 0.5; it is down from the first check
    # that finds it silent past 10 s, and alerted 30 s after that.
    assert watch.check(11.0) == []
    assert watch.check(40.9) == []
    (down,) = watch.check(41.0)
    assert down == Alert(FEED, None, None, "asset index stream not delivering for 30s (silent)")
    assets.state, assets.reason = "reconnecting", "connection lost"
    assert watch.check(60.0) == []  # once per outage, whatever it turns into
    assets.state = "connected"
    assets.message(75.0)
    (up,) = watch.check(75.0)
    assert up.message == "asset index stream delivering again after 1m04s"
    assert watch.check(76.0) == []


def test_a_short_outage_raises_nothing_and_a_never_connected_stream_does() -> None:
    contracts = StreamStatus("contract info")
    watch = FeedWatch(after=5)
    watch.watch(contracts)
    contracts.state, contracts.reason = "reconnecting", "connection refused"
    assert watch.check(0.0) == []
    contracts.state = "connected"
    assert watch.check(4.0) == []
    contracts.state = "reconnecting"
    assert watch.check(10.0) == []
    (alert,) = watch.check(15.0)
    assert alert.message == (
        "contract info stream not delivering for 5s (reconnecting: connection refused)"
    )


def test_a_position_alert_keeps_a_long_notional_and_margin_whole() -> None:
    from binmon.alerts import position_message

    notional = "1" * 60 + "." + "2" * 39  # the longest --position takes
    before = PositionView(notional, 1, "125", "0.004", "4" * 70 + "." + "4" * 70)
    after = PositionView(notional, 2, "100", "0.005", "5" * 70 + "." + "5" * 70)
    message = position_message(before, after)
    assert message is not None and "…" not in message
    assert message.startswith(f"position {notional}: bracket 1 → 2")
    assert message.endswith(f"{before.maintenance_margin} → {after.maintenance_margin}")
