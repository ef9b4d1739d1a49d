"""The contract section (binmon/view/contracts.py): golden tables, filters, positions."""

# The golden screens are as wide as the terminals they stand for.
# ruff: noqa: E501

from __future__ import annotations

from binmon.filters import Filters
from binmon.protocol import ContractInfo
from binmon.state import ContractBook
from binmon.view import Now
from binmon.view.contracts import contract_section
from binmon.view.log import log_section
from tests.view_fixtures import (
    NOW,
    T,
    bracket,
    build_model,
    render,
    rows_of,
)

CONTRACTS_160 = """\
Contracts  7  recent changes first, times UTC
symbol          pair          mkt  type             status           onboard     delivery    bks   lev  last change             when
LOOMUSDT        LOOMUSDT           PERPETUAL        PENDING_TRADING  2025-12-24  perpetual              listed PENDING_TRADING  07:48:39
ETHUSDT         ETHUSDT       UM   PERPETUAL        TRADING          2019-09-25  perpetual     2  125x  bracket 7 added         07:47:49
XYZUSDT         XYZUSDT       UM   PERPETUAL        SETTLING         2023-10-11  2025-12-24             TRADING → SETTLING +1   07:47:09
BTCUSDT         BTCUSDT       UM   PERPETUAL        TRADING          2019-09-25  perpetual     2  100x  b1 max lev 125 → 100    07:44:09
ADAUSD_PERP     ADAUSD        CM   PERPETUAL        TRADING          2020-08-10  perpetual
BTCUSDT_251226  BTCUSDT       UM   CURRENT_QUARTER  TRADING          2025-06-26  2025-12-26
币安人生USDT    币安人生USDT  UM   PERPETUAL        TRADING          2025-10-01  perpetual
"""


CONTRACTS_80 = """\
Contracts  7  recent changes first, times UTC
symbol          status           delivery    last change             when
LOOMUSDT        PENDING_TRADING  perpetual   listed PENDING_TRADING  07:48:39
ETHUSDT         TRADING          perpetual   bracket 7 added         07:47:49
XYZUSDT         SETTLING         2025-12-24  TRADING → SETTLING +1   07:47:09
BTCUSDT         TRADING          perpetual   b1 max lev 125 → 100    07:44:09
ADAUSD_PERP     TRADING          perpetual
BTCUSDT_251226  TRADING          2025-12-26
币安人生USDT    TRADING          perpetual
"""


def test_contract_table() -> None:
    assert render(contract_section(build_model(), 160, 12, NOW), 160) == CONTRACTS_160


def test_contract_table_at_80_columns_drops_low_priority_columns() -> None:
    text = render(contract_section(build_model(), 80, 12, NOW), 80)
    assert text == CONTRACTS_80
    assert "pair" not in text and "onboard" not in text


def test_contract_filters_and_symbol_sort() -> None:
    model = build_model()
    model.filters = Filters.build(symbols=("BTC*",), market="um")
    text = render(contract_section(model, 160, 12, NOW), 160)
    assert rows_of(text, ("BTC", "ETH", "XYZ", "LOOM", "ADA")) == ["BTCUSDT", "BTCUSDT_251226"]
    assert "Contracts  2 of 7 match the filters" in text
    model.filters = Filters.build(statuses=("SETTLING", "PENDING_TRADING"))
    text = render(contract_section(model, 160, 12, NOW), 160)
    assert rows_of(text, ("BTC", "ETH", "XYZ", "LOOM", "ADA")) == ["LOOMUSDT", "XYZUSDT"]
    model.filters = Filters.build(changes_only=True)
    model.contract_sort = "symbol"
    text = render(contract_section(model, 160, 12, NOW), 160)
    assert rows_of(text, ("BTC", "ETH", "XYZ", "LOOM", "ADA")) == [
        "BTCUSDT",
        "ETHUSDT",
        "LOOMUSDT",
        "XYZUSDT",
    ]


def test_positions_in_the_contract_table_and_a_move_highlighted() -> None:
    from decimal import Decimal

    from binmon.positions import Positions

    model = build_model()
    positions = Positions({"BTCUSDT": Decimal("350000"), "ETHUSDT": Decimal("20000000")})
    positions.contracts = model.contracts
    model.positions = positions
    # BTCUSDT's bracket 2 got a lower cap: the position (350000) moves to a new bracket 3,
    # maintenance margin 350000 × 0.005 − 300 = 1450 before, 350000 × 0.01 − 2000 = 1500 after.
    # ETHUSDT's is above its last cap: nothing to say but that. Both come first.
    btc = model.contracts["BTCUSDT"]
    info = ContractInfo(
        "BTCUSDT", T - 5_000, "BTCUSDT", "PERPETUAL", "TRADING", 4133404802000, 1569398400000,
        "UM", [
            bracket(1, "0", "300000", "0.004", "0", "100"),
            bracket(2, "300000", "340000", "0.005", "300", "100"),
            bracket(3, "340000", "800000", "0.01", "2000", "50"),
        ],
    )  # fmt: skip
    book = ContractBook()
    book.contracts = {"BTCUSDT": btc}  # the model's own contract
    changes = book.apply(info)
    model.apply_contract(info, changes)
    update = positions.for_event(info, changes)
    assert update is not None and update.moved
    model.apply_position(update, NOW.wall_ms - 5_000)
    text = render(contract_section(model, 160, 6, NOW), 160)
    assert text.splitlines()[1:4] == [
        "symbol    pair      mkt  type       status           onboard     delivery    bks   lev  pos bkt   pos lev  maint. margin  last change                when",
        "BTCUSDT   BTCUSDT   UM   PERPETUAL  TRADING          2019-09-25  perpetual     3  100x      2→3  100x→50x      1450→1500  b2 cap 800000 → 340000 +1  07:49:04",
        "ETHUSDT   ETHUSDT   UM   PERPETUAL  TRADING          2019-09-25  perpetual     2  125x        -         -              -  bracket 7 added            07:47:49",
    ]
    log = render(log_section(model, 160, 3, NOW), 160)
    assert (
        "07:49:04  BTCUSDT  your position: bracket 2 → 3, max lev 100x → 50x, maint. margin 1450 → 1500"
        in log
    )
    # A minute later the move is history: the new terms, no arrows.
    later = Now(NOW.wall_ms + 60_000, NOW.mono)
    row = render(contract_section(model, 160, 6, later), 160).splitlines()[2]
    assert "100x        3      50x           1500  b2 cap" in row


def test_the_users_own_brackets_stand_in_until_the_streams_are_seen() -> None:
    from binmon.positions import Positions
    from binmon.view.contracts import detail_section

    model = build_model()
    positions = Positions({})  # brackets seeded with a key, no position given
    positions.contracts = model.contracts
    own = [bracket(1, "0", "75000", "0.01", "0", "75"), bracket(2, "75000", "150000", "0.02", "750", "40")]  # fmt: skip
    positions.set_personal("XYZUSDT", own)
    positions.set_personal("BTCUSDT", own)  # the stream's ladder is known: that one is shown
    model.positions = positions
    text = render(contract_section(model, 160, 12, NOW), 160)
    lines = text.splitlines()
    assert lines[0].endswith("* your own brackets")
    xyz = next(line for line in lines if line.startswith("XYZUSDT"))
    btc = next(line for line in lines if line.startswith("BTCUSDT "))
    assert "  2*  75x*  " in xyz
    assert "*" not in btc and "  2  100x  " in btc
    model.detail = "XYZUSDT"
    detail = render(detail_section(model, 160, 30, NOW), 160)
    assert (
        "Your own brackets (notionalCoef ≠ 1): your position uses them; the stream's default ladder has not been seen yet"
        in detail
    )
    assert "75000" in detail and "150000" in detail  # their table and ladder
    model.detail = "BTCUSDT"
    detail = render(detail_section(model, 160, 30, NOW), 160)
    assert "your position uses them; below, the stream's default ladder" in detail
    assert "75000" not in detail
    # Without personal brackets nothing is marked.
    model.positions = Positions({})
    assert "*" not in render(contract_section(model, 160, 12, NOW), 160)
