from __future__ import annotations

import json
from pathlib import Path

import msgspec

from binmon.jsonl import change_json
from binmon.protocol import Bracket, ContractInfo
from binmon.state import Change, Contract, ContractBook, contracts_from_exchange_info


def event(
    symbol: str = "BTCUSDT",
    time: int = 1,
    status: str | None = "TRADING",
    brackets: list[Bracket] | None = None,
    **fields: object,
) -> ContractInfo:
    base: dict[str, object] = {
        "pair": symbol,
        "contract_type": "PERPETUAL",
        "delivery_time": 4133404800000,
        "onboard_time": 1569398400000,
        "market": None,
    }
    base.update(fields)
    return ContractInfo(symbol=symbol, event_time=time, status=status, brackets=brackets, **base)  # type: ignore[arg-type]


def bracket(n: int, ma: str = "50", mmr: str = "0.01", cap: str = "5000") -> Bracket:
    return Bracket(n, "0", cap, mmr, "0", "1", ma)


def test_nothing_known_gives_no_changes() -> None:
    book = ContractBook()
    assert book.apply(event(brackets=[bracket(1)])) == []


def test_symbol_first_seen_after_the_snapshot_is_listed() -> None:
    book = ContractBook()
    book.seed([])
    assert book.apply(event("NEWUSDT", status="PENDING_TRADING")) == [
        Change("listed", None, "PENDING_TRADING")
    ]
    assert book.apply(event("NEWUSDT", time=2, status="TRADING")) == [
        Change("status", "PENDING_TRADING", "TRADING")
    ]


def test_duplicate_frames_yield_no_second_change() -> None:
    book = ContractBook()
    book.seed([Contract("X", status="PENDING_TRADING")])
    assert book.apply(event("X", time=1)) == [Change("status", "PENDING_TRADING", "TRADING")]
    assert book.apply(event("X", time=2)) == []


def test_scalar_fields_are_named_as_json_keys() -> None:
    book = ContractBook()
    book.apply(event(contract_type="NEXT_QUARTER", delivery_time=10, pair="A"))
    changes = book.apply(
        event(time=2, contract_type="CURRENT_QUARTER", delivery_time=11, pair="B", onboard_time=3)
    )
    assert {c.field for c in changes} == {"pair", "contract_type", "delivery_time", "onboard_time"}


def test_missing_fields_say_nothing() -> None:
    book = ContractBook()
    book.apply(event(pair="BTCUSDT"))
    assert book.apply(event(time=2, pair=None, status=None)) == []
    assert book.contracts["BTCUSDT"].pair == "BTCUSDT"


def test_bracket_changes() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1, ma="75"), bracket(2)]))
    changes = book.apply(event(time=2, brackets=[bracket(1, ma="50"), bracket(3)]))
    assert changes == [
        Change("max_leverage", "75", "50", 1),
        Change("bracket", bracket(2), None, 2),
        Change("bracket", None, bracket(3), 3),
    ]
    as_json = [json.loads(msgspec.json.encode(change_json(c))) for c in changes]
    assert as_json[0] == {"field": "max_leverage", "bracket": 1, "old": 75, "new": 50}
    assert as_json[1]["bracket"] == 2 and as_json[1]["new"] is None
    assert as_json[1]["old"] == {
        "bracket": 2,
        "notional_floor": 0,
        "notional_cap": 5000,
        "maint_margin_ratio": 0.01,
        "cum": 0,
        "min_leverage": 1,
        "max_leverage": 50,
    }
    assert as_json[2]["old"] is None and as_json[2]["new"]["bracket"] == 3


def test_empty_bracket_list_never_removes_known_ones() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1)]))
    assert book.apply(event(time=2, brackets=[])) == []
    assert book.apply(event(time=3, brackets=None)) == []
    assert book.contracts["BTCUSDT"].brackets == {1: bracket(1)}


def test_brackets_first_seen_are_not_a_change() -> None:
    book = ContractBook()
    book.seed([Contract("BTCUSDT", status="TRADING")])
    assert book.apply(event(brackets=[bracket(1)])) == []


def test_numbers_compare_by_value() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1, mmr="0.03")]))
    assert book.apply(event(time=2, brackets=[bracket(1, mmr="0.030")])) == []


def test_late_snapshot_does_not_override_newer_event_state() -> None:
    book = ContractBook()
    book.apply(event("X", status="TRADING"))
    book.seed([Contract("X", status="PENDING_TRADING"), Contract("Y", status="TRADING")])
    assert book.contracts["X"].status == "TRADING"
    assert book.apply(event("X", time=2)) == []
    assert book.apply(event("Z", time=3)) == [Change("listed", None, "TRADING")]


def test_last_change_is_remembered() -> None:
    book = ContractBook()
    book.seed([Contract("X", status="TRADING")])
    book.apply(event("X", time=42, status="SETTLING"))
    assert book.contracts["X"].last_change == (Change("status", "TRADING", "SETTLING"),)
    assert book.contracts["X"].last_change_time == 42


# --- the real difference between two exchangeInfo snapshots ----------------


def _events_from_snapshot(info: dict[str, object]) -> list[ContractInfo]:
    return [
        event(
            c.symbol,
            time=1,
            status=c.status,
            pair=c.pair,
            contract_type=c.contract_type,
            delivery_time=c.delivery_time,
            onboard_time=c.onboard_time,
        )
        for c in contracts_from_exchange_info(info)
    ]


def test_real_snapshot_transitions(shared_data: Path) -> None:
    before = json.loads((shared_data / "exchange_info_2025-11-26.json").read_text())
    after = json.loads((shared_data / "exchange_info.json").read_text())
    book = ContractBook()
    book.seed(contracts_from_exchange_info(before))
    changes = {e.symbol: book.apply(e) for e in _events_from_snapshot(after)}

    listed = sorted(s for s, cs in changes.items() if cs and cs[0].field == "listed")
    assert len(listed) == 13
    settled = {s for s, cs in changes.items() if Change("status", "TRADING", "SETTLING") in cs}
    for base in ("ALPHA", "BAKE", "HIFI", "OMNI", "BSW", "NEIROETH", "UXLINK"):
        assert f"{base}USDT" in settled
    assert Change("status", "PENDING_TRADING", "SETTLING") in changes["LITUSDT"]
    for symbol in ("BTCUSDT_251226", "ETHUSDT_251226"):
        assert Change("status", "TRADING", "DELIVERING") in changes[symbol]
        assert (
            Change("contract_type", "CURRENT_QUARTER", "CURRENT_QUARTER DELIVERING")
            in changes[symbol]
        )
    assert Change("status", "PENDING_TRADING", "TRADING") in changes["BTCUSDT_260327"]
    assert Change("contract_type", "NEXT_QUARTER", "CURRENT_QUARTER") in changes["BTCUSDT_260327"]
    # Replaying the same snapshot again is a duplicate: nothing changes.
    assert all(book.apply(e) == [] for e in _events_from_snapshot(after))


def test_a_usd_m_snapshot_says_nothing_about_coin_m_symbols() -> None:
    book = ContractBook()
    book.seed([Contract("BTCUSDT", status="TRADING", market="UM")])
    assert book.apply(event("BTCUSD_PERP", market="CM")) == []
    assert book.apply(event("NEWUSDT", market="UM")) == [Change("listed", None, "TRADING")]
    assert book.apply(event("OLDUSDT")) == [Change("listed", None, "TRADING")]


def test_coin_m_symbols_in_a_snapshot_are_labelled_cm() -> None:
    info = {
        "symbols": [
            {"symbol": "BTCUSD_PERP", "quoteAsset": "USD", "status": "TRADING"},
            {"symbol": "BTCUSDT", "quoteAsset": "USDT", "status": "TRADING"},
        ]
    }
    markets = {c.symbol: c.market for c in contracts_from_exchange_info(info)}
    assert markets == {"BTCUSD_PERP": "CM", "BTCUSDT": "UM"}
    book = ContractBook()
    book.seed(contracts_from_exchange_info(info))
    assert book.apply(event("ETHUSD_PERP", market="CM")) == [Change("listed", None, "TRADING")]
