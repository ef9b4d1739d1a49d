"""The upcoming core: contracts (or an exchangeInfo answer) to scheduled events, soonest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from binmon.filters import Filters
from binmon.protocol import PERPETUAL_DELIVERY_MS, ContractInfo, decode_message
from binmon.state import Contract, ContractBook, contracts_from_exchange_info
from binmon.upcoming import Upcoming, from_exchange_info, select, upcoming, upcoming_line
from tests.exchange import contract_frame

NOW = 1_800_000_000_000
HOUR = 3_600_000


def contract_event(symbol: str, time: int, status: str, **extra: Any) -> ContractInfo:
    """A contractInfo event as the decoder makes it from a frame."""
    (event,) = decode_message(contract_frame(time, symbol, status, **extra)).events
    assert isinstance(event, ContractInfo)
    return event


def perpetual(
    symbol: str, onboard: int, delivery: int = PERPETUAL_DELIVERY_MS, **kw: Any
) -> Contract:
    return Contract(
        symbol,
        pair=kw.get("pair", symbol),
        contract_type=kw.get("contract_type", "PERPETUAL"),
        status=kw.get("status", "TRADING"),
        delivery_time=delivery,
        onboard_time=onboard,
        market=kw.get("market", "UM"),
    )


def test_future_onboard_is_a_listing_and_future_delivery_a_delivery() -> None:
    contracts = [
        perpetual("OLDUSDT", NOW - 100 * HOUR),
        perpetual("NEWUSDT", NOW + 5 * HOUR, status="PENDING_TRADING"),
        perpetual("GONEUSDT", NOW - 100 * HOUR, NOW + 2 * HOUR, status="SETTLING"),
        perpetual(
            "BTCUSDT_270326",
            NOW + 1 * HOUR,
            NOW + 3000 * HOUR,
            pair="BTCUSDT",
            contract_type="NEXT_QUARTER",
            status="PENDING_TRADING",
        ),
    ]
    quarter = ("PENDING_TRADING", "NEXT_QUARTER", "BTCUSDT", "UM")
    assert upcoming(contracts, NOW) == [
        Upcoming("listing", "BTCUSDT_270326", NOW + HOUR, *quarter),
        Upcoming("delivery", "GONEUSDT", NOW + 2 * HOUR, "SETTLING", "PERPETUAL", "GONEUSDT", "UM"),
        Upcoming(
            "listing", "NEWUSDT", NOW + 5 * HOUR, "PENDING_TRADING", "PERPETUAL", "NEWUSDT", "UM"
        ),
        Upcoming("delivery", "BTCUSDT_270326", NOW + 3000 * HOUR, *quarter),
    ]


def test_now_and_the_past_are_not_upcoming() -> None:
    contracts = [
        perpetual("ATNOW", NOW, NOW),
        perpetual("PAST", NOW - 1, NOW - 1),
        perpetual("JUSTAFTER", NOW + 1, NOW + 1, contract_type="CURRENT_QUARTER"),
    ]
    assert [(e.event, e.symbol, e.time) for e in upcoming(contracts, NOW)] == [
        ("delivery", "JUSTAFTER", NOW + 1),
        ("listing", "JUSTAFTER", NOW + 1),
    ]


def test_perpetual_placeholders_are_not_deliveries() -> None:
    # 2100-12-25 is "never"; real data also has BTCUSDT at +2 s and FETUSDT at +1 h.
    contracts = [
        perpetual("A", 0, PERPETUAL_DELIVERY_MS),
        perpetual("BTCUSDT", 0, 4133404802000),
        perpetual("FETUSDT", 0, 4133408400000),
        perpetual("Y2099", 0, 4102444799999),
    ]
    assert [e.symbol for e in upcoming(contracts, NOW)] == ["Y2099"]


def test_missing_or_mistyped_times_schedule_nothing() -> None:
    contracts = [
        Contract("NOTHING"),
        Contract("TEXT", onboard_time="1900000000000", delivery_time="1900000000000"),  # type: ignore[arg-type]
        Contract("BOOL", onboard_time=True, delivery_time=1.9e12),  # type: ignore[arg-type]
        Contract("RIGHT", onboard_time=NOW + 1, status=7),  # type: ignore[arg-type]
    ]
    assert upcoming(contracts, NOW) == [
        Upcoming("listing", "RIGHT", NOW + 1, None, None, None, None)
    ]


def test_delisting_is_a_perpetual_delivery() -> None:
    settle, quarter = upcoming(
        [
            perpetual("GONEUSDT", 0, NOW + 1, status="SETTLING"),
            perpetual("X_270326", 0, NOW + 2, contract_type="NEXT_QUARTER"),
        ],
        NOW,
    )
    assert settle.delisting and not quarter.delisting
    assert not Upcoming("listing", "N", NOW, None, "PERPETUAL", None, None).delisting


def test_the_live_book_gives_the_same_events_and_follows_contract_events() -> None:
    info = {
        "symbols": [
            {
                "symbol": "NEWUSDT",
                "pair": "NEWUSDT",
                "contractType": "PERPETUAL",
                "deliveryDate": PERPETUAL_DELIVERY_MS,
                "onboardDate": NOW + HOUR,
                "status": "PENDING_TRADING",
                "quoteAsset": "USDT",
            }
        ]
    }
    book = ContractBook()
    book.seed(contracts_from_exchange_info(info))
    assert upcoming(book.contracts.values(), NOW) == from_exchange_info(info, NOW)
    # The listing is moved by an hour, and a delisting is announced.
    book.apply(contract_event("NEWUSDT", NOW, "PENDING_TRADING", ot=NOW + 2 * HOUR))
    book.apply(contract_event("OLDUSDT", NOW, "SETTLING", dt=NOW + 3 * HOUR, st=1))
    assert [
        (e.event, e.symbol, e.time, e.status) for e in upcoming(book.contracts.values(), NOW)
    ] == [
        ("listing", "NEWUSDT", NOW + 2 * HOUR, "PENDING_TRADING"),
        ("delivery", "OLDUSDT", NOW + 3 * HOUR, "SETTLING"),
    ]


def test_select_by_symbol_glob_and_market() -> None:
    events = [
        Upcoming("listing", "BTCUSD_PERP", 1, None, None, None, "CM"),
        Upcoming("listing", "BTCUSDT", 2, None, None, None, "UM"),
        Upcoming("listing", "ETHUSDT", 3, None, None, None, None),
    ]
    assert select(events, Filters.build()) == events
    assert [e.symbol for e in select(events, Filters.build(symbols=("btc*",)))] == [
        "BTCUSD_PERP",
        "BTCUSDT",
    ]
    # No market known: USD-M, as contract events without `st` are.
    assert [e.symbol for e in select(events, Filters.build(market="um"))] == ["BTCUSDT", "ETHUSDT"]
    assert [e.symbol for e in select(events, Filters.build(market="CM"))] == ["BTCUSD_PERP"]
    assert select(events, Filters.build(symbols=("ETH*",), market="cm")) == []


def test_json_line_has_the_spec_keys_in_order() -> None:
    event = Upcoming(
        "delivery", "BTCUSDT_260327", 1774598400000, "TRADING", "CURRENT_QUARTER", "BTCUSDT", "UM"
    )
    assert upcoming_line(event) == (
        b'{"type":"upcoming","event":"delivery","symbol":"BTCUSDT_260327","time":1774598400000,'
        b'"status":"TRADING","contract_type":"CURRENT_QUARTER","pair":"BTCUSDT","market":"UM"}\n'
    )
    line = json.loads(
        upcoming_line(Upcoming("listing", "X\x1b[2J\u009b", 5, None, None, None, None))
    )
    assert line == {
        "type": "upcoming",
        "event": "listing",
        "symbol": "X\x1b[2J\u009b",
        "time": 5,
        "status": None,
        "contract_type": None,
        "pair": None,
        "market": None,
    }
    assert b"\x1b" not in upcoming_line(Upcoming("listing", "X\x1b", 5, None, None, None, None))


# A real contract type, space included.
DELIVERING = "CURRENT_QUARTER DELIVERING"


def test_real_exchange_info(shared_data: Path) -> None:
    info = json.loads((shared_data / "exchange_info.json").read_text())
    server_time = info["serverTime"]  # 2025-12-24T07:49:09.558Z
    assert [
        (e.event, e.symbol, e.time, e.status, e.contract_type, e.market)
        for e in from_exchange_info(info, server_time)
    ] == [
        ("delivery", "BTCUSDT_251226", 1766736000000, "DELIVERING", DELIVERING, "UM"),
        ("delivery", "ETHUSDT_251226", 1766736000000, "DELIVERING", DELIVERING, "UM"),
        ("delivery", "BTCUSDT_260327", 1774598400000, "TRADING", "CURRENT_QUARTER", "UM"),
        ("delivery", "ETHUSDT_260327", 1774598400000, "TRADING", "CURRENT_QUARTER", "UM"),
        ("delivery", "BTCUSDT_260626", 1782460800000, "TRADING", "NEXT_QUARTER", "UM"),
        ("delivery", "ETHUSDT_260626", 1782460800000, "TRADING", "NEXT_QUARTER", "UM"),
    ]


def test_real_exchange_info_a_month_earlier(shared_data: Path) -> None:
    # As of the earlier snapshot's time, the later file's December listings
    # and delistings were still ahead: every one of them is in the list, in order.
    info = json.loads((shared_data / "exchange_info.json").read_text())
    earlier = json.loads((shared_data / "exchange_info_2025-11-26.json").read_text())["serverTime"]
    events = from_exchange_info(info, earlier)
    times = [e.time for e in events]
    assert times == sorted(times) and all(t > earlier for t in times)
    by_kind = {(e.event, e.symbol) for e in events}
    for s in info["symbols"]:
        assert (("listing", s["symbol"]) in by_kind) == (s["onboardDate"] > earlier)
        delivers = earlier < s["deliveryDate"] < 4102444800000
        assert (("delivery", s["symbol"]) in by_kind) == delivers
    # Delistings of perpetuals announced in December are among them.
    assert ("delivery", "ALPHAUSDT") in by_kind and ("listing", "ETHUSDT_260626") in by_kind
