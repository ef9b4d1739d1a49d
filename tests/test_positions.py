"""Positions on bracket ladders (binmon.positions) and their JSON keys, against plain Decimal."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.jsonl import encode_contract
from binmon.positions import (
    Exposure,
    PositionError,
    Positions,
    exposure,
    parse_position,
    parse_positions,
    previous_ladder,
)
from binmon.protocol import Bracket, ContractInfo
from binmon.state import ContractBook, bracket_changes


def ladder(*rows: tuple[str, str, str, str, str]) -> tuple[Bracket, ...]:
    """Brackets from (floor, cap, mmr, cum, max_leverage) rows."""
    return tuple(
        Bracket(i, floor, cap, mmr, cum, None, lev)
        for i, (floor, cap, mmr, cum, lev) in enumerate(rows, start=1)
    )


BTC = ladder(
    ("0", "300000", "0.004", "0", "150"),
    ("300000", "800000", "0.005", "300", "100"),
    ("800000", "3000000", "0.0065", "1500", "75"),
)


def _event(brackets: tuple[Bracket, ...] | None, time: int = 1) -> ContractInfo:
    return ContractInfo(
        "BTCUSDT", time, "BTCUSDT", "PERPETUAL", "TRADING", 4133404800000, 1, "UM",
        None if brackets is None else list(brackets),
    )  # fmt: skip


def test_parse_position() -> None:
    assert parse_position("btcusdt=250000") == ("BTCUSDT", Decimal("250000"))
    assert parse_position(" ETHUSDT = 1250.50 ") == ("ETHUSDT", Decimal("1250.50"))
    assert parse_positions(["A=1", "B=0"]) == {"A": Decimal(1), "B": Decimal(0)}


@pytest.mark.parametrize(
    "text",
    ["BTCUSDT", "BTCUSDT=-1", "BTCUSDT=1e5", "BTCUSDT=1,000", "=5", "BTC USDT=5", "X=" + "1" * 101],
)
def test_parse_position_refuses(text: str) -> None:
    with pytest.raises(PositionError):
        parse_position(text)


def test_a_long_notional_is_taken_exactly_and_a_too_long_one_says_why() -> None:
    digits = "1" * 60 + "." + "9" * 39  # 100 characters
    assert parse_position(f"X={digits}") == ("X", Decimal(digits))
    assert exposure(BTC, Decimal(digits)) == Exposure(Decimal(digits))  # above the last cap
    with pytest.raises(PositionError, match="notional has 101 characters, more than the 100"):
        parse_position("X=" + "1" * 101)


def test_a_symbol_twice_is_refused() -> None:
    with pytest.raises(PositionError, match="BTCUSDT is given more than once"):
        parse_positions(["BTCUSDT=1", "btcusdt=2"])


def test_exposure_like_brackets_notional() -> None:
    assert exposure(BTC, Decimal("250000")) == Exposure(
        Decimal("250000"), 1, "150", "0.004", Decimal("1000.000")
    )
    # A floor belongs to the bracket that starts there; the last cap to none.
    assert exposure(BTC, Decimal("300000")).bracket == 2
    assert exposure(BTC, Decimal("3000000")) == Exposure(Decimal("3000000"))


def test_position_line_keys_exactly_as_spec() -> None:
    positions = Positions({"BTCUSDT": Decimal("250000")})
    book = ContractBook()
    book.apply(_event(BTC))
    raised = ladder(
        ("0", "200000", "0.005", "0", "125"),
        ("200000", "800000", "0.0075", "500", "75"),
        ("800000", "3000000", "0.01", "2500", "50"),
    )
    event = _event(raised, time=2)
    changes = book.apply(event)
    update = positions.update("BTCUSDT", raised, changes)
    assert update is not None and update.moved
    line = json.loads(encode_contract(event, changes, update), parse_float=Decimal)
    assert line["position"] == {
        "notional": 250000,
        "bracket": 2,
        "max_leverage": 75,
        "maint_margin_ratio": Decimal("0.0075"),
        "maintenance_margin": Decimal("1375"),  # 250000 × 0.0075 − 500
    }
    assert line["position_before"] == {
        "notional": 250000,
        "bracket": 1,
        "max_leverage": 150,
        "maint_margin_ratio": Decimal("0.004"),
        "maintenance_margin": 1000,
    }
    assert list(line)[-2:] == ["position", "position_before"]
    # An event that leaves the ladder alone carries no position_before.
    same = positions.update("BTCUSDT", raised, book.apply(_event(raised, time=3)))
    assert same is not None and same.before is None
    assert "position_before" not in json.loads(encode_contract(_event(raised, 3), [], same))


def test_above_the_last_cap_only_the_notional_is_known() -> None:
    update = Positions({"BTCUSDT": Decimal("3000000.5")}).update("BTCUSDT", BTC, [])
    assert update is not None
    assert json.loads(encode_contract(_event(BTC), [], update))["position"] == {
        "notional": 3000000.5,
        "bracket": None,
        "max_leverage": None,
        "maint_margin_ratio": None,
        "maintenance_margin": None,
    }


def test_no_position_or_no_ladder_means_no_key() -> None:
    positions = Positions({"BTCUSDT": Decimal(1)})
    assert positions.update("ETHUSDT", BTC, []) is None
    assert positions.update("BTCUSDT", None, []) is None
    assert positions.update("BTCUSDT", (), []) is None
    assert "position" not in json.loads(encode_contract(_event(None), []))


def test_personal_brackets_are_used_and_never_diffed() -> None:
    positions = Positions({"BTCUSDT": Decimal("250000")})
    personal = ladder(
        ("0", "150000", "0.004", "0", "150"), ("150000", "400000", "0.005", "150", "100")
    )
    positions.set_personal("BTCUSDT", personal)
    changes = bracket_changes({b.bracket: b for b in BTC}, [BTC[0]])
    update = positions.update("BTCUSDT", BTC, changes)
    assert update is not None and update.personal and update.before is None
    assert (update.now.bracket, update.now.maintenance_margin) == (2, Decimal("1100.000"))


def test_positions_can_be_replaced() -> None:
    positions = Positions({"BTCUSDT": Decimal(1)})
    positions.replace({"ETHUSDT": Decimal(2)})
    assert "BTCUSDT" not in positions and "ETHUSDT" in positions and positions


# --- properties against plain Decimal -------------------------------------------


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Bracket, ...]:
    """Ladders built the way the exchange builds them (the cum rule)."""
    steps = draw(
        st.lists(
            st.tuples(st.integers(1, 10**9), st.integers(1, 500), st.integers(1, 125)),
            min_size=1,
            max_size=10,
        )
    )
    rows = []
    floor, mmr, cum = Decimal(0), Decimal(0), Decimal(0)
    for width, mmr_step, lev in steps:
        new_mmr = mmr + Decimal(mmr_step) / 10000
        cum = cum + floor * (new_mmr - mmr)
        cap = floor + width
        rows.append((str(floor), str(cap), str(new_mmr), str(cum), str(lev)))
        floor, mmr = cap, new_mmr
    return ladder(*rows)


@st.composite
def notionals(draw: st.DrawFn, brackets: tuple[Bracket, ...]) -> Decimal:
    edges = [Decimal(b.notional_floor) for b in brackets] + [Decimal(brackets[-1].notional_cap)]
    return draw(
        st.one_of(
            st.sampled_from(edges),  # exactly on a floor or the last cap
            st.sampled_from(edges).map(lambda d: d + Decimal("0.000001")),
            st.sampled_from(edges[1:]).map(lambda d: d - Decimal("0.000000000001")),
            st.decimals(min_value=0, max_value=edges[-1] * 2, places=8),
            st.decimals(min_value=0, max_value=10**30, places=12),  # many digits
        )
    )


@settings(max_examples=300)
@given(data=st.data(), brackets=ladders())
def test_exposure_matches_plain_decimal(data: st.DataObject, brackets: tuple[Bracket, ...]) -> None:
    n = data.draw(notionals(brackets))
    got = exposure(brackets, n)
    with localcontext() as ctx:
        ctx.prec = 10_000
        hits = [b for b in brackets if Decimal(b.notional_floor) <= n < Decimal(b.notional_cap)]
        if not hits:
            assert n >= Decimal(brackets[-1].notional_cap)
            assert got == Exposure(n)
            return
        [b] = hits
        margin = n * Decimal(b.maint_margin_ratio) - Decimal(b.cum)
    assert got == Exposure(n, b.bracket, b.max_leverage, b.maint_margin_ratio, margin)
    assert margin >= 0  # the cum rule keeps it continuous and non-negative


_FIELD_VALUES = st.sampled_from(["0.004", "0.0040", "0.01", "125", "0", "300", "7.5"])


@settings(max_examples=200)
@given(
    old=ladders(),
    new=ladders(),
    tweaks=st.lists(
        st.tuples(
            st.integers(0, 9),
            st.sampled_from(["maint_margin_ratio", "cum", "max_leverage"]),
            _FIELD_VALUES,
        ),
        max_size=4,
    ),
)
def test_previous_ladder_undoes_the_changes(
    old: tuple[Bracket, ...], new: tuple[Bracket, ...], tweaks: list[tuple[int, str, str]]
) -> None:
    tweaked = list(new)
    for index, name, value in tweaks:
        if index < len(tweaked):
            fields = {f: getattr(tweaked[index], f) for f in Bracket.__struct_fields__}
            fields[name] = value
            tweaked[index] = Bracket(**fields)
    changes = bracket_changes({b.bracket: b for b in old}, tweaked)
    rebuilt = previous_ladder(tweaked, changes)
    # Equal by value: a change is only reported when the values differ.
    assert [b.bracket for b in rebuilt] == [b.bracket for b in old]
    for a, b in zip(rebuilt, old, strict=True):
        for name in ("notional_floor", "notional_cap", "maint_margin_ratio", "cum", "max_leverage"):
            assert Decimal(getattr(a, name)) == Decimal(getattr(b, name))
