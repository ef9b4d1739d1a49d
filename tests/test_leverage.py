"""Bracket maths and the shapes brackets arrive in (binmon.leverage). No I/O but tmp files."""

from __future__ import annotations

import gzip
import io
import json
from decimal import Decimal, localcontext
from itertools import pairwise
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.leverage import (
    BracketError,
    NotionalOutOfRange,
    brackets_in_line,
    check_ladder,
    decimal_text,
    decode_rest,
    find_bracket,
    maintenance_margin,
    parse_notional,
    percent_text,
    position,
    read_brackets_file,
)
from binmon.protocol import Bracket
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA


def _real(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def ladder(*rows: tuple[str, str, str, str, str]) -> tuple[Bracket, ...]:
    """Brackets from (floor, cap, mmr, cum, max_leverage) rows."""
    return tuple(
        Bracket(
            bracket=i,
            notional_floor=floor,
            notional_cap=cap,
            maint_margin_ratio=mmr,
            cum=cum,
            min_leverage=None,
            max_leverage=lev,
        )
        for i, (floor, cap, mmr, cum, lev) in enumerate(rows, start=1)
    )


# The SPEC's BTCUSDT example, extended by the cum rule.
SAMPLE = ladder(
    ("0", "300000", "0.004", "0", "150"),
    ("300000", "800000", "0.005", "300", "100"),
    ("800000", "3000000", "0.0065", "1500", "75"),
)


# --- numbers -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "250000", "1250.5", "0.001", "12345678901234567890.123"])
def test_parse_notional_keeps_text(text: str) -> None:
    assert parse_notional(text) == text
    assert parse_notional(f" {text}\n") == text


@pytest.mark.parametrize(
    "text", ["", "-1", "1e5", "2.5E3", "+5", ".5", "5.", "0250", "1,000", "nan", "inf"]
)
def test_parse_notional_rejects(text: str) -> None:
    with pytest.raises(BracketError, match="--notional must be"):
        parse_notional(text)


def test_parse_notional_takes_100_characters_and_says_so_beyond() -> None:
    assert parse_notional("9" * 100) == "9" * 100
    with pytest.raises(BracketError, match="--notional has 101 characters, more than the 100"):
        parse_notional("9" * 101)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1000.000", "1000"),
        ("0.00", "0"),
        ("-0", "0"),
        ("1E+3", "1000"),
        ("1.50", "1.5"),
        ("-12.3400", "-12.34"),
        ("0.000001", "0.000001"),
    ],
)
def test_decimal_text_has_no_exponent(value: str, text: str) -> None:
    assert decimal_text(Decimal(value)) == text


@pytest.mark.parametrize(
    ("ratio", "pct"),
    [
        ("0.004", "0.40%"),
        ("0.0065", "0.65%"),
        ("0.00325", "0.325%"),
        ("0.5", "50.00%"),
        ("1", "100.00%"),
        ("0", "0.00%"),
        ("0.0040", "0.40%"),
        ("1e-3", "0.10%"),
    ],
)
def test_percent_text(ratio: str, pct: str) -> None:
    assert percent_text(ratio) == pct


# --- bracket choice and maintenance margin ---------------------------------------


def test_boundaries_belong_to_the_bracket_that_starts_there() -> None:
    assert find_bracket(SAMPLE, "0").bracket == 1
    assert find_bracket(SAMPLE, "299999.99").bracket == 1
    assert find_bracket(SAMPLE, "300000").bracket == 2
    assert find_bracket(SAMPLE, "300000.0").bracket == 2
    assert find_bracket(reversed(SAMPLE), "800000").bracket == 3  # order does not matter
    assert find_bracket(SAMPLE, "2999999.999").bracket == 3
    with pytest.raises(NotionalOutOfRange) as info:
        find_bracket(SAMPLE, "3000000")
    assert info.value.limit == "3000000"
    assert "at or above the last bracket's cap (3000000)" in str(info.value)


def test_maintenance_margin_is_exact() -> None:
    pos = position(SAMPLE, "250000")
    assert (pos.bracket.bracket, pos.maintenance_margin_text) == (1, "1000")
    assert position(SAMPLE, "300000").maintenance_margin_text == "1200"
    # 28 significant digits would round this; the result must be exact.
    n = "1234567.123456789012345678901234"
    with localcontext(prec=100):
        expected = Decimal(n) * Decimal("0.0065") - 1500
    assert maintenance_margin(SAMPLE[2], n) == expected
    assert position(SAMPLE, n).maintenance_margin_text == "6524.686302469128580246912858021"


def test_gap_and_empty_ladders() -> None:
    gappy = ladder(("0", "10", "0.01", "0", "50"), ("20", "30", "0.02", "0", "20"))
    with pytest.raises(BracketError, match="gap"):
        find_bracket(gappy, "15")
    with pytest.raises(BracketError):
        find_bracket((), "1")
    starts_late = ladder(("100", "200", "0.01", "0", "50"))
    with pytest.raises(NotionalOutOfRange, match="below the first bracket's floor"):
        find_bracket(starts_late, "5")


def test_check_ladder_finds_broken_cum_and_floors() -> None:
    assert check_ladder(SAMPLE) == []
    broken = ladder(
        ("0", "300000", "0.004", "0", "150"),
        ("300000", "800000", "0.005", "301", "100"),
        ("900000", "3000000", "0.0065", "1500", "75"),
    )
    problems = check_ladder(broken)
    assert "bracket 2 cum is 301, continuity needs 300" in problems[0]
    assert any("bracket 3 starts at 900000" in p for p in problems)


def _margin_continuous_at_floors(brackets: tuple[Bracket, ...]) -> None:
    for prev, cur in pairwise(brackets):
        floor = cur.notional_floor
        assert maintenance_margin(prev, floor) == maintenance_margin(cur, floor)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(1, 10**7), st.integers(1, 500)), min_size=1, max_size=12),
    pick=st.floats(0, 1, allow_nan=False),
)
def test_cum_rule_makes_margin_continuous(steps: list[tuple[int, int]], pick: float) -> None:
    # Build ladders the way the exchange does: caps grow, mmr grows, and cum
    # follows cum[n] = cum[n-1] + floor[n]·(mmr[n] − mmr[n-1]).
    rows = []
    floor, mmr, cum = Decimal(0), Decimal(0), Decimal(0)
    for width, mmr_step in steps:
        new_mmr = mmr + Decimal(mmr_step) / 10000
        cum = cum + floor * (new_mmr - mmr)
        cap = floor + width
        rows.append((str(floor), str(cap), str(new_mmr), str(cum), "10"))
        floor, mmr = cap, new_mmr
    brackets = ladder(*rows)
    assert check_ladder(brackets) == []
    _margin_continuous_at_floors(brackets)
    n = (Decimal(pick) * floor).quantize(Decimal("0.01"))
    if n < floor:
        b = find_bracket(brackets, str(n))
        assert Decimal(b.notional_floor) <= n < Decimal(b.notional_cap)
        assert maintenance_margin(b, str(n)) >= 0


def test_real_brackets_obey_the_cum_rule_and_boundaries() -> None:
    found = read_brackets_file(str(_real("leverage_brackets.json"))).found
    assert len(found) == 349
    for symbol, brackets in found.items():
        assert check_ladder(brackets) == [], symbol
        _margin_continuous_at_floors(brackets)
        for b in brackets:
            # The floor belongs to its own bracket, the cap to the next one.
            assert find_bracket(brackets, b.notional_floor) is b
        with pytest.raises(NotionalOutOfRange):
            find_bracket(brackets, brackets[-1].notional_cap)


def test_real_btcusdt_notional_maths() -> None:
    btc = read_brackets_file(str(_real("leverage_brackets.json"))).found["BTCUSDT"]
    for n in ("0", "49999", "50000", "250000", "600000", "12345678.9"):
        pos = position(btc, n)
        b = pos.bracket
        assert Decimal(b.notional_floor) <= Decimal(n) < Decimal(b.notional_cap)
        assert pos.maintenance_margin == Decimal(n) * Decimal(b.maint_margin_ratio) - Decimal(b.cum)
    assert position(btc, "250000").maintenance_margin_text == "1200"  # 250000 × 0.005 − 50
    # Long.MAX caps (BTCSTUSDT) are still exact.
    all_found = read_brackets_file(str(_real("leverage_brackets.json"))).found
    btcst = all_found["BTCSTUSDT"]
    assert btcst[-1].notional_cap == "9223372036854775807"
    assert position(btcst, "9223372036854775806").bracket is btcst[-1]


def test_real_2023_brackets_obey_the_cum_rule() -> None:
    found = read_brackets_file(str(_real("leverage_brackets_2023.json"))).found
    assert len(found) == 297
    assert all(check_ladder(b) == [] for b in found.values())


# --- REST answers ------------------------------------------------------------------


def test_decode_rest_object_list_and_string_numbers() -> None:
    one = decode_rest(
        b'{"symbol":"ETHUSDT","notionalCoef":1.50,"brackets":[{"bracket":2,"initialLeverage":"50",'
        b'"notionalCap":"600000","notionalFloor":"50000","maintMarginRatio":"0.0050","cum":"50.0"},'
        b'{"bracket":1,"initialLeverage":75,"notionalCap":50000,"notionalFloor":0,'
        b'"maintMarginRatio":0.004,"cum":0.0}]}'
    )
    [eth] = one
    assert [b.bracket for b in eth.brackets] == [1, 2]  # ordered by bracket number
    assert eth.brackets[1] == Bracket(2, "50000", "600000", "0.0050", "50.0", None, "50")
    assert eth.brackets[0].cum == "0.0"
    many = decode_rest(b'[{"symbol":"A","brackets":[]},{"symbol":"B","brackets":[]}]')
    assert [s.symbol for s in many] == ["A", "B"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"code":-1121,"msg":"Invalid symbol."}',
        b'[{"symbol":"A","brackets":[{"bracket":1,"initialLeverage":"x","notionalCap":1,'
        b'"notionalFloor":0,"maintMarginRatio":0.1,"cum":0}]}]',
        b'[{"symbol":"A","brackets":[{"bracket":1,"initialLeverage":true,"notionalCap":1,'
        b'"notionalFloor":0,"maintMarginRatio":0.1,"cum":0}]}]',
    ],
)
def test_decode_rest_rejects_bad_shapes(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_rest(body)


# --- lines and files ---------------------------------------------------------------------

CONTRACT_FRAME = {
    "e": "contractInfo",
    "E": 1697515689486,
    "s": "ORBSUSDT",
    "ps": "ORBSUSDT",
    "ct": "PERPETUAL",
    "dt": 4133404800000,
    "ot": 1697522400000,
    "cs": "PENDING_TRADING",
    "bks": [
        {"bs": 1, "bnf": 0, "bnc": 10000, "mmr": 0.03, "cf": 0, "mi": 11, "ma": 20},
        {"bs": 2, "bnf": 10000, "bnc": 100000, "mmr": 0.05, "cf": 200, "mi": 6, "ma": 10},
    ],
}


def _recorded(data: object, stream: str = "!contractInfo", t: int = 1) -> str:
    return json.dumps({"recv_time": t, "stream": stream, "data": data})


def test_recording_line_maps_stream_fields() -> None:
    [item] = brackets_in_line(_recorded(CONTRACT_FRAME).encode())
    assert item.symbol == "ORBSUSDT"
    assert item.brackets[1] == Bracket(2, "10000", "100000", "0.05", "200", "6", "10")


def test_lines_without_brackets_say_nothing() -> None:
    empty = dict(CONTRACT_FRAME, bks=[])
    assert brackets_in_line(_recorded(empty).encode()) == []
    no_bks = {k: v for k, v in CONTRACT_FRAME.items() if k != "bks"}
    assert brackets_in_line(_recorded(no_bks).encode()) == []
    nothing: tuple[list[object] | None, ...] = (None, [])
    for brackets in nothing:
        line = {"type": "contract_info", "symbol": "X", "brackets": brackets, "changes": []}
        assert brackets_in_line(json.dumps(line).encode()) == []
    assets = [{"e": "assetIndexUpdate", "E": 1, "s": "BTCUSD", "i": "1", "b": "0", "a": "0",
               "B": "1", "A": "1", "q": "0", "g": "0", "Q": "1", "G": "1"}]  # fmt: skip
    assert brackets_in_line(_recorded(assets, "!assetIndex@arr").encode()) == []


def test_bare_payload_and_own_json_lines() -> None:
    [bare] = brackets_in_line(json.dumps(CONTRACT_FRAME).encode())
    assert bare.brackets[0].min_leverage == "11"
    own = (
        b'{"type":"brackets","symbol":"BTCUSDT","brackets":[{"bracket":1,"notional_floor":0,'
        b'"notional_cap":300000,"maint_margin_ratio":0.0040,"cum":0,"min_leverage":null,'
        b'"max_leverage":150}],"notional":5,"bracket":1}'
    )
    [item] = brackets_in_line(own)
    assert item.brackets == (Bracket(1, "0", "300000", "0.0040", "0", None, "150"),)


def test_bad_lines_raise_value_error() -> None:
    for line in (b"{nope", b'{"stream":"!contractInfo","data":{"e":"contractInfo"}}'):
        with pytest.raises(ValueError):
            brackets_in_line(line)
    bad_number = {"type": "contract_info", "symbol": "X", "brackets": [
        {"bracket": 1, "notional_floor": "zero", "notional_cap": 1, "maint_margin_ratio": 0.1,
         "cum": 0, "min_leverage": None, "max_leverage": 5}]}  # fmt: skip
    with pytest.raises(ValueError):
        brackets_in_line(json.dumps(bad_number).encode())


def _write_recording(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz", "renamed-gzip.jsonl"])
def test_read_file_latest_wins_and_skips(tmp_path: Path, name: str) -> None:
    newer = dict(CONTRACT_FRAME, E=1697515700000)
    newer["bks"] = [{"bs": 1, "bnf": 0, "bnc": 5000, "mmr": 0.04, "cf": 0, "mi": 1, "ma": 15}]
    lines = [
        _recorded(CONTRACT_FRAME, t=1),
        "not json at all",
        _recorded(newer, t=2),
        _recorded(dict(CONTRACT_FRAME, E=1697515800000, bks=[]), t=3),  # says nothing
    ]
    path = tmp_path / name
    _write_recording(path, lines)
    if name.startswith("renamed"):
        path.write_bytes(gzip.compress(path.read_bytes()))
    seen: list[int] = []
    result = read_brackets_file(str(path), on_malformed=lambda line, _: seen.append(line))
    assert list(result.found) == ["ORBSUSDT"]
    assert result.found["ORBSUSDT"][0].max_leverage == "15"
    assert result.malformed == 0  # "not json at all" has no brackets: never parsed
    assert seen == []
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"stream":"!contractInfo","data":{"e":"contractInfo","bks":[1]}}\n')
    assert read_brackets_file(str(broken)).malformed == 1


def test_read_file_saved_rest_answer_and_stdin(tmp_path: Path) -> None:
    body = (
        b'\n  [\n{"symbol":"BTCUSDT","brackets":[{"bracket":1,"initialLeverage":125,'
        b'"notionalCap":50000,"notionalFloor":0,"maintMarginRatio":0.004,"cum":0.0}]}\n]\n'
    )
    path = tmp_path / "rest.json"
    path.write_bytes(body)
    assert read_brackets_file(str(path)).found["BTCUSDT"][0].cum == "0.0"
    stdin = io.BufferedReader(io.BytesIO(body))
    assert "BTCUSDT" in read_brackets_file("-", stdin=stdin).found


def test_read_real_contract_frames() -> None:
    found = read_brackets_file(str(_real("contract_info_frames.jsonl"))).found
    # Only LOOM and ORBS carried brackets; the other frames had "bks":[].
    assert sorted(found) == ["LOOMUSDT", "ORBSUSDT"]
    assert all(check_ladder(b) == [] for b in found.values())


def test_structs_round_trip_through_msgspec() -> None:
    # Bracket is what jsonl.bracket_json writes; make sure nothing here widened it.
    assert msgspec.json.decode(msgspec.json.encode(SAMPLE[0]), type=Bracket) == SAMPLE[0]
