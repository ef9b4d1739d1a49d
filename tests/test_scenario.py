"""The generated market behind ``binmon serve``: realism, exactness, determinism."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec
import pytest

from binmon.protocol import AssetIndex, ContractInfo, decode_payload
from binmon.server.scenario import (
    ASSETS,
    PERPETUAL_DELIVERY_MS,
    AssetIndexUpdate,
    BracketWire,
    ContractInfoUpdate,
    Scenario,
    Tick,
    build_brackets,
    encode,
    ladder_rungs,
    quarter_deliveries,
)
from binmon.state import Change, ContractBook, contracts_from_exchange_info

START = 1767225600000  # 2026-01-01T00:00:00Z
EIGHT_PLACES = re.compile(r"^\d+\.\d{8}$")
Q8 = Decimal("0.00000001")


def run(scenario: Scenario, ticks: int) -> list[Tick]:
    return list(scenario.run(ticks))


@pytest.fixture(scope="module")
def long_run() -> tuple[Scenario, list[Tick]]:
    # Long enough (at 1 Hz, ~83 min) for every kind of contract event, including a roll.
    scenario = Scenario(seed=3, start_ms=START)
    return scenario, run(scenario, 5000)


def contract_events(ticks: list[Tick]) -> list[ContractInfoUpdate]:
    return [event for tick in ticks for event in tick.contracts]


def assert_ladder(brackets: list[BracketWire], where: str) -> None:
    assert brackets, where
    prev: BracketWire | None = None
    for n, b in enumerate(brackets, 1):
        assert b.bs == n, where
        assert b.bnc > b.bnf, where
        assert b.mi <= b.ma, where
        # Exact text, never an exponent (msgspec writes Decimals as they are).
        assert "E" not in str(b.mmr) and "E" not in str(b.cf), where
        if prev is None:
            assert b.bnf == 0 and b.cf == 0, where
        else:
            assert b.bnf == prev.bnc, where
            assert b.mmr >= prev.mmr, where
            assert b.ma < prev.ma, where
            assert prev.mi == b.ma + 1, where
            assert b.cf == prev.cf + b.bnf * (b.mmr - prev.mmr), where
        prev = b
    assert brackets[-1].mi == 1, where


# --- the universe ---------------------------------------------------------


def test_universe_is_realistic() -> None:
    scenario = Scenario(seed=0, start_ms=START)
    contracts = scenario.contracts
    assert 600 <= len(contracts) <= 700
    statuses = Counter(c.status for c in contracts.values())
    assert statuses["TRADING"] > 0.8 * len(contracts)
    assert statuses["SETTLING"] >= 10
    assert statuses["PENDING_TRADING"] >= 10
    types = Counter(c.contract_type for c in contracts.values())
    assert types["PERPETUAL"] > 0.9 * len(contracts)
    assert types["CURRENT_QUARTER"] == 4 and types["NEXT_QUARTER"] == 4
    assert {"XAUUSDT", "XAGUSDT"} <= {
        c.symbol for c in contracts.values() if c.contract_type == "TRADIFI_PERPETUAL"
    }
    markets = Counter(c.market for c in contracts.values())
    assert markets[1] > 500 and 10 <= markets[2] <= 60
    announced = []
    for c in contracts.values():
        if c.market == 2 and c.contract_type == "PERPETUAL":
            assert c.symbol == f"{c.pair}_PERP" and c.margin == c.base
        perpetual = c.contract_type == "PERPETUAL" and c.status != "SETTLING"
        if perpetual and c.delivery_ms != PERPETUAL_DELIVERY_MS:
            # A delisting announced: still trading, delivered days from now.
            assert c.status == "TRADING"
            assert START + 2 * 86_400_000 <= c.delivery_ms <= START + 14 * 86_400_000
            announced.append(c.symbol)
        if c.status == "SETTLING":
            # Delisted perpetuals carry their real delist time.
            assert c.onboard_ms < c.delivery_ms < START
        if c.status == "PENDING_TRADING":
            assert c.onboard_ms > START
        assert_ladder(c.brackets, c.symbol)
    for pair in ("BTCUSDT", "ETHUSDT", "BTCUSD", "ETHUSD"):
        quarterlies = [
            c for c in contracts.values() if c.pair == pair and "QUARTER" in c.contract_type
        ]
        assert len(quarterlies) == 2
        for c in quarterlies:
            assert re.fullmatch(rf"{pair}_\d{{6}}", c.symbol)
            assert c.symbol.endswith(
                datetime.fromtimestamp(c.delivery_ms / 1000, UTC).strftime("%y%m%d")
            )
    assert contracts["BTCUSDT"].onboard_ms == 1569398400000
    assert len(announced) == 3


def test_assets() -> None:
    scenario = Scenario(seed=0, start_ms=START)
    symbols = scenario.asset_symbols
    assert 15 <= len(symbols) <= 20
    assert {
        "BTCUSD",
        "ETHUSD",
        "BNBUSD",
        "USDTUSD",
        "USDCUSD",
        "FDUSDUSD",
        "BFUSDUSD",
        "BNFCRUSD",
    } <= set(symbols)
    assert len(ASSETS) == len(symbols)


def test_quarterly_delivery_dates() -> None:
    # Last Friday of the quarter's last month, 08:00 UTC.
    march, june, september = quarter_deliveries(START, 3)
    assert datetime.fromtimestamp(march / 1000, UTC) == datetime(2026, 3, 27, 8, tzinfo=UTC)
    assert datetime.fromtimestamp(june / 1000, UTC) == datetime(2026, 6, 26, 8, tzinfo=UTC)
    assert datetime.fromtimestamp(september / 1000, UTC) == datetime(2026, 9, 25, 8, tzinfo=UTC)


# --- asset index ----------------------------------------------------------


def test_asset_index_relations_are_exact() -> None:
    scenario = Scenario(seed=5, start_ms=START)
    seen: dict[str, set[str]] = {}
    for tick in run(scenario, 300):
        assert len(tick.assets) == len(ASSETS)
        for a in tick.assets:
            assert a.e == "assetIndexUpdate"
            assert tick.time_ms == a.E
            assert a.s.endswith("USD")
            for text in (a.i, a.b, a.a, a.B, a.A, a.q, a.g, a.Q, a.G):
                assert EIGHT_PLACES.match(text), (a.s, text)
            i = Decimal(a.i)
            assert Decimal(a.B) == (i * (1 - Decimal(a.b))).quantize(Q8, ROUND_HALF_EVEN)
            assert Decimal(a.A) == (i * (1 + Decimal(a.a))).quantize(Q8, ROUND_HALF_EVEN)
            assert Decimal(a.Q) == (i * (1 - Decimal(a.q))).quantize(Q8, ROUND_HALF_EVEN)
            assert Decimal(a.G) == (i * (1 + Decimal(a.g))).quantize(Q8, ROUND_HALF_EVEN)
            seen.setdefault(a.s, set()).add(a.i)
    # Random walks: prices move, and stay at realistic levels.
    assert len(seen["BTCUSD"]) > 250
    last = scenario.latest_assets
    assert 50_000 < Decimal(last["BTCUSD"].i) < 150_000
    assert 1_000 < Decimal(last["ETHUSD"].i) < 6_000
    assert Decimal("0.99") < Decimal(last["USDTUSD"].i) < Decimal("1.01")
    assert last["BNFCRUSD"].i == "1.00000000"


def test_asset_frames_decode_cleanly() -> None:
    tick = Scenario(seed=1, start_ms=START).tick(START + 1000)
    frame = decode_payload("!assetIndex@arr", encode(tick.assets))
    assert frame.malformed == 0
    assert len(frame.events) == len(ASSETS)
    assert all(isinstance(e, AssetIndex) for e in frame.events)
    one = decode_payload("btcusd@assetIndex", encode(tick.assets[0]))
    assert one.malformed == 0 and isinstance(one.events[0], AssetIndex)
    assert one.events[0].index_price == tick.assets[0].i


# --- contract events ------------------------------------------------------


def test_contract_events_happen_every_few_ticks(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    events = contract_events(ticks)
    # One event every 2-7 ticks, plus follow-ups (go-lives, duplicates, rolls).
    assert len(ticks) / 7 <= len(events) <= len(ticks)
    gaps = [n for n, tick in enumerate(ticks) if tick.contracts]
    # At most 7 ticks apart, or 7 + 5 when a duplicate is scheduled instead of an event.
    assert max(b - a for a, b in itertools.pairwise(gaps)) <= 12


def test_contract_frames_decode_cleanly(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    for event in contract_events(ticks):
        raw = encode(event)
        frame = decode_payload("!contractInfo", raw)
        assert frame.malformed == 0, raw
        (decoded,) = frame.events
        assert isinstance(decoded, ContractInfo)
        assert decoded.market in ("UM", "CM")
        assert decoded.brackets is not None
        # Field order of real frames.
        assert list(msgspec.json.decode(raw)) == [
            "e",
            "E",
            "s",
            "ps",
            "ct",
            "dt",
            "ot",
            "cs",
            "bks",
            "st",
        ]


def test_listing_goes_live(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    events = contract_events(ticks)
    first: dict[str, ContractInfoUpdate] = {}
    for e in events:
        first.setdefault(e.s, e)
    listed = [s for s, e in first.items() if e.cs == "PENDING_TRADING" and e.ot > e.E]
    assert len(listed) >= 20
    live: dict[str, ContractInfoUpdate] = {}
    for e in events:
        if e.cs == "TRADING":
            live.setdefault(e.s, e)
    went_live = [s for s in listed if s in live]
    assert len(went_live) >= 0.8 * len(listed)
    for symbol in went_live:
        # Live at (not before) its onboard time, with "bks":[] like the real frames.
        assert first[symbol].ot <= live[symbol].E
        assert live[symbol].bks == []
    # Real quirk: brackets published while still PENDING_TRADING.
    assert any(e.cs == "PENDING_TRADING" and e.bks for e in events)


def test_delistings_and_bracket_changes(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    events = contract_events(ticks)
    settling = [e for e in events if e.cs == "SETTLING"]
    assert len(settling) >= 20
    assert all(e.bks == [] and e.dt <= e.E for e in settling)
    # Each was announced first: still trading, its delivery date set ahead.
    announced = {
        e.s: e.dt
        for e in events
        if e.cs == "TRADING" and e.ct == "PERPETUAL" and e.E < e.dt < PERPETUAL_DELIVERY_MS
    }
    for e in settling:
        assert announced.get(e.s) == e.dt, e.s
    with_brackets = [e for e in events if e.bks]
    assert len(with_brackets) >= 100
    for e in with_brackets:
        assert_ladder(e.bks, e.s)
    # Leverage changes and added brackets both happen.
    lengths: dict[str, set[int]] = {}
    top: dict[str, set[int]] = {}
    for e in with_brackets:
        lengths.setdefault(e.s, set()).add(len(e.bks))
        top.setdefault(e.s, set()).add(e.bks[0].ma)
    assert any(len(v) > 1 for v in lengths.values())
    assert any(len(v) > 1 for v in top.values())


def test_duplicates_and_rolls(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    seen: dict[bytes, int] = {}
    exact = 0
    for n, tick in enumerate(ticks):
        for e in tick.contracts:
            raw = encode(e)
            if raw in seen and n - seen[raw] <= 6:
                exact += 1
            seen[raw] = n
    assert exact >= 5
    events = contract_events(ticks)
    delivering = [e for e in events if e.cs == "DELIVERING"]
    assert delivering and all(e.ct == "CURRENT_QUARTER DELIVERING" for e in delivering)
    assert any(e.cs == "DELIVERED" for e in events)
    rolled_pairs = {e.ps for e in delivering}
    new_quarters = [
        e
        for e in events
        if e.ct == "NEXT_QUARTER" and e.cs == "PENDING_TRADING" and e.ps in rolled_pairs
    ]
    assert new_quarters


def test_state_follows_events(long_run: tuple[Scenario, list[Tick]]) -> None:
    scenario, ticks = long_run
    latest: dict[str, ContractInfoUpdate] = {}
    for e in contract_events(ticks):
        # By event time: a resend keeps its (older) time and says nothing new.
        if e.s not in latest or e.E >= latest[e.s].E:
            latest[e.s] = e
    for symbol, e in latest.items():
        contract = scenario.contracts.get(symbol)
        if contract is None:
            continue  # delisted long ago and dropped from the universe
        assert contract.status == e.cs
        assert contract.contract_type == e.ct
        assert_ladder(contract.brackets, symbol)


def changes_seen(scenario: Scenario, ticks: int) -> dict[str, list[Change]]:
    """The changes a client that subscribed at once sees over ``ticks`` ticks
    (its book seeded from the scenario's exchangeInfo), by field."""
    from binmon.server.exchange_info import symbol_json

    book = ContractBook()
    info = {"symbols": [symbol_json(c, Decimal(1)) for c in scenario.contracts.values()]}
    book.seed(contracts_from_exchange_info(info, market=None))
    seen: dict[str, list[Change]] = {}
    for tick in run(scenario, ticks):
        for event in tick.contracts:
            (decoded,) = decode_payload("!contractInfo", encode(event)).events
            assert isinstance(decoded, ContractInfo)
            for change in book.apply(decoded):
                seen.setdefault(change.field, []).append(change)
    return seen


def assert_each_kind_of_change(seen: dict[str, list[Change]]) -> None:
    assert "listed" in seen
    assert any(c.old == "PENDING_TRADING" and c.new == "TRADING" for c in seen["status"])
    # A delisting announced: the delivery date moves from the perpetuals' to a date.
    assert any(
        c.old == PERPETUAL_DELIVERY_MS and c.new < PERPETUAL_DELIVERY_MS
        for c in seen["delivery_time"]
    )
    assert any(int(c.new) < int(c.old) for c in seen["max_leverage"])  # a leverage cut
    # …and another bracket change besides.
    assert {"notional_cap", "notional_floor", "bracket"} & set(seen)


@pytest.mark.parametrize("seed", range(6))
def test_the_first_fifteen_seconds_show_each_kind_of_change(seed: int) -> None:
    scenario = Scenario(seed, start_ms=START)
    assert_each_kind_of_change(changes_seen(scenario, 15))
    assert scenario.now_ms - START == 15_000  # fifteen ticks of the scenario's 1 Hz clock


def test_the_opening_act_can_wait_for_a_watcher() -> None:
    scenario = Scenario(1, start_ms=START, opening=False)
    early = changes_seen(scenario, 12)
    assert "listed" not in early and "max_leverage" not in early
    scenario.begin_opening()
    assert_each_kind_of_change(changes_seen(scenario, 15))


def test_pace_after_the_opening_act(long_run: tuple[Scenario, list[Tick]]) -> None:
    _, ticks = long_run
    opening = contract_events(ticks[:15])
    later = contract_events(ticks[15:])
    # About one event every few seconds: slower than the opening's five in 15 s.
    assert len(opening) >= 5
    assert len(ticks[15:]) / 8 <= len(later) <= len(ticks[15:]) / 2


def test_determinism() -> None:
    a = [
        encode(t.assets) + b"".join(encode(c) for c in t.contracts)
        for t in run(Scenario(7, start_ms=START), 400)
    ]
    b = [
        encode(t.assets) + b"".join(encode(c) for c in t.contracts)
        for t in run(Scenario(7, start_ms=START), 400)
    ]
    c = [encode(t.assets) for t in run(Scenario(8, start_ms=START), 400)]
    assert a == b
    assert a[-1][: len(c[-1])] != c[-1]
    assert list(Scenario(7, start_ms=START).contracts) == list(
        Scenario(7, start_ms=START).contracts
    )


def test_rate_scales_event_timing() -> None:
    scenario = Scenario(seed=2, start_ms=START, rate=10)
    initial = set(scenario.contracts)
    assert scenario.interval_ms == 100
    ticks = run(scenario, 600)
    assert ticks[1].time_ms - ticks[0].time_ms == 100
    listings = [
        e for e in contract_events(ticks) if e.cs == "PENDING_TRADING" and e.s not in initial
    ]
    assert listings
    # A listing's onboard time lies a few ticks ahead: seconds at 10 Hz, not minutes.
    assert all(e.ot - e.E <= 31 * 100 for e in listings)


def test_build_brackets_cumulative_rule() -> None:
    rungs = [
        (20, Decimal("0.03"), 25000),
        (10, Decimal("0.05"), 200000),
        (5, Decimal("0.1"), 500000),
    ]
    b = build_brackets(rungs)
    assert [(x.bnf, x.bnc) for x in b] == [(0, 25000), (25000, 200000), (200000, 500000)]
    assert [str(x.cf) for x in b] == ["0", "500", "10500"]
    assert [(x.mi, x.ma) for x in b] == [(11, 20), (6, 10), (1, 5)]
    assert encode(b[1]) == b'{"bs":2,"bnf":25000,"bnc":200000,"mmr":0.05,"cf":500,"mi":6,"ma":10}'
    for kind in ("major", "large", "mid", "small", "quarter"):
        assert_ladder(build_brackets(ladder_rungs(kind, 10000)), kind)


def test_wire_structs_round_trip() -> None:
    tick = Scenario(seed=0, start_ms=START).tick(START + 1000)
    assert msgspec.json.decode(encode(tick.assets[0]), type=AssetIndexUpdate) == tick.assets[0]
