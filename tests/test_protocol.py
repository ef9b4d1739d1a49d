from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon import protocol
from binmon.jsonl import encode_assets, encode_contract
from binmon.protocol import (
    AssetIndex,
    ContractInfo,
    asset_index_stream,
    combined_url,
    decode_message,
    decode_payload,
    number_text,
)

FastLines = Callable[[bytes | str], tuple[bytes, int, int, int, str] | None]
fast_lines: FastLines | None
try:
    from binmon._speedups import asset_index_lines as fast_lines
except ImportError:  # built without a C compiler
    fast_lines = None

SPEC_ASSET = (
    '{"type":"asset_index","symbol":"ADAUSD","event_time":1686749230000,'
    '"index_price":0.27462452,"bid_buffer":0.10000000,"ask_buffer":0.10000000,'
    '"bid_rate":0.24716207,"ask_rate":0.30208698,'
    '"auto_exchange_bid_buffer":0.05000000,"auto_exchange_ask_buffer":0.05000000,'
    '"auto_exchange_bid_rate":0.26089330,"auto_exchange_ask_rate":0.28835575}\n'
)
ADA = (
    '{"e":"assetIndexUpdate","E":1686749230000,"s":"ADAUSD","i":"0.27462452",'
    '"b":"0.10000000","a":"0.10000000","B":"0.24716207","A":"0.30208698",'
    '"q":"0.05000000","g":"0.05000000","Q":"0.26089330","G":"0.28835575"}'
)


def envelope(stream: str, data: str) -> bytes:
    return f'{{"stream":"{stream}","data":{data}}}'.encode()


def test_stream_names_and_urls() -> None:
    assert asset_index_stream("BTCUSD") == "btcusd@assetIndex"
    assert asset_index_stream("EthUsd") == "ethusd@assetIndex"
    assert protocol.ASSET_INDEX_ALL == "!assetIndex@arr"
    assert protocol.CONTRACT_INFO == "!contractInfo"
    assert (
        combined_url("wss://fstream.binance.com/", ["!assetIndex@arr", "!contractInfo"])
        == "wss://fstream.binance.com/market/stream?streams=!assetIndex@arr/!contractInfo"
    )
    assert protocol.raw_url("wss://x", "btcusd@assetIndex") == "wss://x/market/ws/btcusd@assetIndex"
    assert combined_url(protocol.TESTNET_WS_URL, ["a"], legacy=True).endswith("/stream?streams=a")


def test_spec_asset_example_is_reproduced_to_the_digit() -> None:
    frame = decode_message(envelope("!assetIndex@arr", f"[{ADA}]"))
    assert frame.malformed == 0
    assert encode_assets(frame.events).decode() == SPEC_ASSET  # type: ignore[arg-type]


def test_single_object_payload_of_a_per_asset_stream() -> None:
    frame = decode_message(envelope("adausd@assetIndex", ADA))
    assert frame.stream == "adausd@assetIndex"
    [event] = frame.events
    assert isinstance(event, AssetIndex)
    assert (event.symbol, event.index_price, event.bid_buffer) == (
        "ADAUSD",
        "0.27462452",
        "0.10000000",
    )


def test_contract_info_optional_fields_and_unknowns_pass_through() -> None:
    data = (
        '{"e":"contractInfo","E":5,"s":"XAUUSDT","ct":"CURRENT_QUARTER DELIVERING",'
        '"dt":1,"ot":2,"cs":"SOMETHING_NEW","new_field":{"x":[1]}}'
    )
    [event] = decode_message(envelope("!contractInfo", data)).events
    assert isinstance(event, ContractInfo)
    assert event.pair is None and event.market is None and event.brackets is None
    assert event.contract_type == "CURRENT_QUARTER DELIVERING"
    assert event.status == "SOMETHING_NEW"
    line = json.loads(encode_contract(event, []))
    assert line["pair"] is None and line["market"] is None and line["brackets"] is None


@pytest.mark.parametrize(("st_value", "market"), [(1, "UM"), (2, "CM")])
def test_market_from_st(st_value: int, market: str) -> None:
    data = f'{{"e":"contractInfo","E":5,"s":"BTCUSD_PERP","cs":"TRADING","st":{st_value},"bks":[]}}'
    [event] = decode_message(envelope("!contractInfo", data)).events
    assert isinstance(event, ContractInfo)
    assert event.market == market
    assert event.brackets == []


def test_bracket_numbers_keep_their_text() -> None:
    data = (
        '{"e":"contractInfo","E":5,"s":"X","cs":"TRADING","bks":[{"bs":1,"bnf":0,"bnc":5000.0,'
        '"mmr":0.0100,"cf":"0","mi":21,"ma":50}]}'
    )
    [event] = decode_message(envelope("!contractInfo", data)).events
    line = encode_contract(event, []).decode()  # type: ignore[arg-type]
    assert (
        '"brackets":[{"bracket":1,"notional_floor":0,"notional_cap":5000.0,'
        '"maint_margin_ratio":0.0100,"cum":0,"min_leverage":21,"max_leverage":50}]' in line
    )


def test_control_replies_and_errors() -> None:
    reply = decode_message(b'{"result":null,"id":1}')
    assert reply.control is not None and reply.control.id == 1 and not reply.events
    listed = decode_message(b'{"result":["!contractInfo"],"id":7}')
    assert listed.control is not None and listed.control.result == ["!contractInfo"]
    error = decode_message(b'{"code":2,"msg":"Invalid request: unknown method","id":3}')
    assert error.error is not None and (error.error.code, error.error.id) == (2, 3)
    assert decode_message(b'{"code":0,"msg":"Unknown property"}').error is not None


@pytest.mark.parametrize(
    "message",
    [
        b"not json",
        b"",
        b"[]",
        b"{}",
        b'{"stream":"!assetIndex@arr"}',
        b'{"stream":"!assetIndex@arr","data":{"e":"assetIndexUpdate"}}',
        b'{"stream":"!assetIndex@arr","data":[{"e":"assetIndexUpdate","E":"x"}]}',
        b'{"stream":"!contractInfo","data":{"e":"contractInfo","E":1,"s":2}}',
        b'{"stream":"x","data":{"e":"somethingElse","E":1}}',
    ],
)
def test_malformed_frames_are_counted_not_raised(message: bytes) -> None:
    frame = decode_message(message)
    assert frame.events == []
    assert frame.malformed >= 1
    assert frame.problem


def test_values_that_are_not_numbers_are_rejected() -> None:
    bad = ADA.replace('"i":"0.27462452"', '"i":"1}\\n{\\"evil\\":1"')
    frame = decode_message(envelope("!assetIndex@arr", f"[{bad}]"))
    assert frame.events == [] and frame.malformed == 1
    for text in ("abc", "1.", ".5", "01", "--1", "1e", "", " 1", "NaN"):
        with pytest.raises(ValueError):
            number_text(text)


def test_one_bad_element_does_not_lose_the_good_ones() -> None:
    bad = ADA.replace('"s":"ADAUSD"', '"s":"BAD"').replace('"i":"0.27462452"', '"i":"x"')
    good2 = ADA.replace("ADAUSD", "BTCUSD")
    frame = decode_message(envelope("!assetIndex@arr", f"[{ADA},{bad},{good2}]"), want_raw=True)
    assert [e.symbol for e in frame.events] == ["ADAUSD", "BTCUSD"]  # type: ignore[union-attr]
    assert frame.malformed == 1
    assert frame.raw == [ADA.encode(), good2.encode()]


def test_raw_elements_are_exact_and_single_line() -> None:
    pretty = "[\n  " + ADA.replace(",", ",\n  ") + "\n]"
    frame = decode_message(envelope("!assetIndex@arr", pretty), want_raw=True)
    assert frame.raw is not None and len(frame.raw) == 1
    assert b"\n" not in frame.raw[0]
    assert json.loads(frame.raw[0]) == json.loads(ADA)
    assert b'"0.27462452"' in frame.raw[0]


def test_bare_payload_from_the_raw_path() -> None:
    assert [e.symbol for e in protocol.decode_bare(ADA).events] == ["ADAUSD"]  # type: ignore[union-attr]
    assert len(protocol.decode_bare(f"[{ADA},{ADA}]").events) == 2


# --- real data -----------------------------------------------------------


def test_real_asset_index_frames(shared_data: Path) -> None:
    lines = (shared_data / "asset_index_frames.jsonl").read_text().splitlines()
    frame = decode_payload("usdtusd@assetIndex", lines[0].encode())
    assert frame.malformed == 0
    out = json.loads(encode_assets(frame.events))  # type: ignore[arg-type]
    raw = json.loads(lines[0])
    assert out["symbol"] == raw["s"]
    text = encode_assets(frame.events).decode()  # type: ignore[arg-type]
    for key in "ibaBAqgQG":
        assert f":{raw[key]}," in text or f":{raw[key]}}}" in text
    examples = (shared_data / "asset_index_reference_examples.jsonl").read_text().splitlines()
    arr = decode_payload("!assetIndex@arr", examples[1].encode())
    assert [e.symbol for e in arr.events] == ["ADAUSD", "USDTUSD"]  # type: ignore[union-attr]


def test_real_contract_info_frames(shared_data: Path) -> None:
    lines = (shared_data / "contract_info_frames.jsonl").read_text().splitlines()
    events = []
    for line in lines:
        frame = decode_payload("!contractInfo", line.encode())
        assert frame.malformed == 0, frame.problem
        events.extend(frame.events)
    assert len(events) == 9
    loom = events[1]
    assert isinstance(loom, ContractInfo) and loom.brackets is not None
    assert [b.max_leverage for b in loom.brackets] == ["20", "10", "5", "4", "2", "1"]
    assert loom.brackets[2].maint_margin_ratio == "0.1"


# --- properties ----------------------------------------------------------

decimal_text = st.builds(
    lambda whole, frac: f"{whole}.{frac}" if frac else str(whole),
    st.integers(min_value=0, max_value=10**12),
    st.text(alphabet="0123456789", max_size=12),
)


symbols = st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True)


@given(st.lists(st.tuples(symbols, decimal_text), min_size=1, max_size=5))
@settings(max_examples=150, deadline=None)
def test_decode_encode_keeps_every_digit(rows: list[tuple[str, str]]) -> None:
    data = [
        {"e": "assetIndexUpdate", "E": 1, "s": s, **{k: v for k in "ibaBAqgQG"}} for s, v in rows
    ]
    frame = decode_message(msgspec.json.encode({"stream": "!assetIndex@arr", "data": data}))
    assert frame.malformed == 0
    text = encode_assets(frame.events).decode()  # type: ignore[arg-type]
    lines = text.splitlines()
    assert len(lines) == len(rows)
    for line, (symbol, value) in zip(lines, rows, strict=True):
        # Numbers parsed back as their text: the exchange's digits, unchanged.
        out = json.loads(line, parse_float=str, parse_int=str)
        assert out.pop("symbol") == symbol
        assert out.pop("type") == "asset_index" and out.pop("event_time") == "1"
        assert list(out.values()) == [value] * 9


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    frame = decode_message(data)
    # Whatever it was, it is accounted for: events, a reply, an error, or skipped.
    accounted = bool(frame.events) or frame.control or frame.error or frame.malformed
    assert accounted


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_symbol_gives_valid_json(symbol: str) -> None:
    data = {"e": "assetIndexUpdate", "E": 1, "s": symbol, **{k: "1.5" for k in "ibaBAqgQG"}}
    frame = decode_message(msgspec.json.encode({"stream": "s", "data": [data]}))
    [line] = encode_assets(frame.events).splitlines()  # type: ignore[arg-type]
    assert json.loads(line)["symbol"] == symbol


@pytest.mark.parametrize(
    "value", ["true", "null", "false", '"1"', "{}", "[1]", "1\\n", "NaN", "Infinity", "1,2", ""]
)
def test_asset_values_must_be_numbers_and_keep_lines_whole(value: str) -> None:
    bad = ADA.replace('"i":"0.27462452"', f'"i":"{value}"')
    frame = decode_message(envelope("!assetIndex@arr", f"[{bad}]"))
    assert frame.events == [] and frame.malformed == 1


def test_c1_controls_never_reach_a_terminal_raw() -> None:
    import io

    from binmon.sinks import JsonLinesSink

    data = '{"e":"contractInfo","E":5,"s":"X\\u009b2JY","cs":"TRAD\u009bING","bks":[]}'
    frame = decode_message(envelope("!contractInfo", data), want_raw=True)
    [event] = frame.events
    assert isinstance(event, ContractInfo)
    for raw in (False, True):
        out = io.BytesIO()
        sink = JsonLinesSink(out, raw=raw)  # type: ignore[arg-type]
        sink.contract(event, [], frame.raw[0] if frame.raw else None)
        line = out.getvalue()
        assert b"\xc2\x9b" not in line and b"\\u009b" in line
        assert "\u009b" in json.loads(line)["s" if raw else "symbol"]


# --- found by the structured fuzzing below --------------------------------


@pytest.mark.parametrize(
    "message",
    [
        b'"\xff"',
        b'{"stream":"\xff","data":1}',
        b'{"code":1,"msg":"\xff"}',
        b'{"e":"\xff"}',
        '{"stream":"s","data":"\udcff"}',  # a text message with a lone surrogate
    ],
)
def test_text_that_is_not_utf8_is_malformed_not_raised(message: bytes | str) -> None:
    for decode in (decode_message, protocol.decode_bare):
        frame = decode(message)
        assert frame.events == [] and frame.malformed == 1
    assert protocol.split_envelope(message) in (None, ("s", b'"\xed\xb3\xbf"'))


def test_bad_utf8_in_one_element_loses_only_that_element() -> None:
    bad = ADA.replace("ADAUSD", "BAD").encode().replace(b"BAD", b"\xff")
    message = b'{"stream":"!assetIndex@arr","data":[' + ADA.encode() + b"," + bad + b"]}"
    for form in (message, message.decode(errors="surrogateescape")):
        frame = decode_message(form)
        assert [e.symbol for e in frame.events] == ["ADAUSD"]  # type: ignore[union-attr]
        assert frame.malformed == 1


def test_a_bare_payload_survives_an_unknown_field_out_of_float_range() -> None:
    [event] = decode_message(b'{"e":"contractInfo","E":1,"s":"X","x":1e400}').events
    assert isinstance(event, ContractInfo) and event.symbol == "X"


def test_escaped_digits_in_a_bracket_number_are_digits() -> None:
    data = (
        '{"e":"contractInfo","E":5,"s":"X","bks":[{"bs":1,"bnf":"\\u0030","bnc":"5\\u0030",'
        '"mmr":"0.01","cf":"0","mi":"\\u0031","ma":50}]}'
    )
    [event] = decode_message(envelope("!contractInfo", data)).events
    assert isinstance(event, ContractInfo) and event.brackets is not None
    bracket = event.brackets[0]
    assert (bracket.notional_floor, bracket.notional_cap, bracket.min_leverage) == ("0", "50", "1")


def test_an_element_without_e_is_malformed_whatever_its_neighbours() -> None:
    untagged = ADA.replace('"e":"assetIndexUpdate",', "").replace("ADAUSD", "NOTAG")
    for elements in ([untagged], [untagged, ADA], [untagged, "1"]):
        frame = decode_message(envelope("!assetIndex@arr", f"[{','.join(elements)}]"))
        assert "NOTAG" not in [e.symbol for e in frame.events]  # type: ignore[union-attr]
        assert frame.malformed == len(elements) - elements.count(ADA)


# --- structured fuzzing --------------------------------------------------
#
# Frames are built as a tree of wire values, each element labelled valid or
# not *by construction*, then rendered to bytes in varied but legal JSON
# (separators, escapes, key order). The decoder must recover exactly the
# valid elements, in order, with the exact text of every number, and count
# every other element as malformed.


@dataclass(frozen=True)
class Num:
    """A JSON number token, written verbatim."""

    text: str


@dataclass(frozen=True)
class BadUtf8:
    """A JSON string whose bytes are not UTF-8 (a corrupted frame)."""

    raw: bytes


Wire: TypeAlias = "bool | int | str | Num | BadUtf8 | list[Wire] | dict[str, Wire] | None"


@dataclass(frozen=True)
class Style:
    escape: str  # "utf8": as is; "ascii": \uXXXX past ASCII; "all": every character
    item_sep: bytes
    key_sep: bytes


def render_string(text: str, escape: str) -> bytes:
    if escape == "all":
        units = text.encode("utf-16-be")
        return (
            b'"'
            + b"".join(b"\\u" + units[k : k + 2].hex().encode() for k in range(0, len(units), 2))
            + b'"'
        )
    return json.dumps(text, ensure_ascii=escape == "ascii").encode()


def render(value: Wire, style: Style) -> bytes:
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, Num):
        return value.text.encode()
    if isinstance(value, BadUtf8):
        return b'"' + value.raw + b'"'
    if isinstance(value, str):
        return render_string(value, style.escape)
    if isinstance(value, list):
        return b"[" + style.item_sep.join(render(v, style) for v in value) + b"]"
    return (
        b"{"
        + style.item_sep.join(
            render_string(k, style.escape) + style.key_sep + render(v, style)
            for k, v in value.items()
        )
        + b"}"
    )


def plain(value: Wire) -> object:
    """What a JSON parser makes of a (valid) wire value."""
    if isinstance(value, Num):
        return json.loads(value.text)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    assert not isinstance(value, BadUtf8)
    return value


@dataclass(frozen=True)
class AssetExpect:
    symbol: str
    event_time: int
    decimals: tuple[str, ...]  # exact text, in ASSET_KEYS order


@dataclass(frozen=True)
class ContractExpect:
    symbol: str
    event_time: int
    pair: str | None
    contract_type: str | None
    status: str | None
    delivery_time: int | None
    onboard_time: int | None
    market: str | None
    # (bs, exact text of bnf, bnc, mmr, cf, mi, ma) per bracket, as sent.
    brackets: tuple[tuple[int, tuple[str | None, ...]], ...] | None


Expect = AssetExpect | ContractExpect
Element = tuple[Wire, Expect | None]  # None: the element is malformed

ASSET_KEYS = "ibaBAqgQG"
BRACKET_KEYS = ("bnf", "bnc", "mmr", "cf", "mi", "ma")  # BRACKET_NUMBER_FIELDS order
KNOWN_KEYS = {*"eEs", "ps", "ct", "cs", "dt", "ot", "st", "bks", "bs", *ASSET_KEYS, *BRACKET_KEYS}
# Keys that would make a bare payload look like a control reply or an envelope.
RESERVED_KEYS = {"code", "msg", "result", "id", "stream", "data"}

_digits = "0123456789"
number_texts = st.one_of(
    st.sampled_from(["0", "-0", "0.10000000", "0.27462452", "1.00000000", "0.030", "1e5", "1E+05"]),
    st.builds(
        lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}",
        st.sampled_from(["", "", "-"]),
        st.one_of(st.just(0), st.integers(1, 10**22)).map(str),
        st.one_of(st.just(""), st.text(_digits, min_size=1, max_size=18).map(lambda d: "." + d)),
        st.one_of(
            st.just(""),
            st.builds(
                "{}{}{}".format,
                st.sampled_from("eE"),
                st.sampled_from(["", "+", "-"]),
                st.text(_digits, min_size=1, max_size=3),
            ),
        ),
    ),
)
# JSON's number grammar. JSON whitespace other than line breaks around an
# asset decimal is kept as sent (see protocol.all_numbers); bracket numbers
# must be bare.
_BRACKET_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ASSET_DECIMAL = re.compile(rf"[ \t]*{_BRACKET_NUMBER.pattern}[ \t]*")
asset_decimals = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", "", "", " ", "\t"]),
    number_texts,
    st.sampled_from(["", "", "", " "]),
)
NOT_NUMBERS = [
    "", " ", "NaN", "nan", "Infinity", "-Infinity", "inf", "1.", ".5", "01", "-", "+1", "--1",
    "1e", "1e+", "0x1F", "1_000", "1,5", "1 2", "1\n", "\r1", "1\x00", "\x1b[2J", "1\u2028",
    "1\u00a0", "１", "٣", "½", "true", "null", "{}", "[1]", '"1"', '1}\n{"evil":1', "1\\n",
    "\u202e1",
]  # fmt: skip
bad_utf8 = st.sampled_from([b"\xff", b"1\xed\xa0\x80", b"\xc3(", b"0.1\x80"]).map(BadUtf8)
json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    number_texts.map(Num),
    st.text(max_size=8),
)
any_json: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
extra_fields = st.dictionaries(
    st.one_of(
        st.sampled_from(["T", "u", "pm", "new_field", "é", "x y"]), st.text(max_size=5)
    ).filter(lambda k: k not in KNOWN_KEYS | RESERVED_KEYS),
    any_json,
    max_size=3,
)
# Values of the wrong JSON type for each kind of field.
not_objects: st.SearchStrategy[Any] = st.one_of(json_scalars, bad_utf8)
not_strings: st.SearchStrategy[Any] = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    number_texts.map(Num),
    st.just({"x": [1]}),
    st.just([]),
    bad_utf8,
)
not_ints: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([Num("1.0"), Num("1e3"), Num("-0.5"), "1", "", True, {}, [7]]),
    number_texts.filter(lambda t: t.lstrip("-").isdigit()),  # an integer as a string
    bad_utf8,
)
texts = st.one_of(
    st.sampled_from(
        ["BTCUSD", "ADAUSD", "1000SHIBUSD", "X\u009b2J", "a\nb", "\x1b[31m", "\U0001f600"]
    ),
    st.text(max_size=10),
)
# valid ints: any JSON integer (msgspec ints are unbounded)
ints = st.one_of(st.integers(0, 2**53), st.integers(-(2**70), 2**70))
wrong_tags: st.SearchStrategy[Any] = st.one_of(
    not_strings, texts.filter(lambda t: t not in ("assetIndexUpdate", "contractInfo"))
)
not_ints_nor_null: st.SearchStrategy[Any] = st.one_of(not_ints, st.none())
not_strings_nor_null: st.SearchStrategy[Any] = st.one_of(not_strings, st.none())
not_asset_decimals: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(NOT_NUMBERS),
    st.text(max_size=6).filter(lambda t: not _ASSET_DECIMAL.fullmatch(t)),
    st.none(),
    not_strings,
    number_texts.map(Num),  # a JSON number where a decimal string belongs
)
not_bracket_numbers: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([*NOT_NUMBERS, " 1", "1 ", "\t0.5"]),
    st.text(max_size=6).filter(lambda t: not _BRACKET_NUMBER.fullmatch(t)),
    st.sampled_from([True, False, {}, [1], {"v": "1"}]),
    bad_utf8,
)
not_bracket_numbers_nor_null: st.SearchStrategy[Any] = st.one_of(not_bracket_numbers, st.none())
not_bracket_lists: st.SearchStrategy[Any] = st.one_of(
    not_strings.filter(lambda v: v != []), st.just({"bs": 1})
)


@st.composite
def asset_element(draw: st.DrawFn, in_array: bool = True) -> Element:
    fields: dict[str, Wire] = {"e": "assetIndexUpdate", "E": draw(ints), "s": draw(texts)}
    for key in ASSET_KEYS:
        fields[key] = draw(asset_decimals)
    fields.update(draw(extra_fields))
    expect = AssetExpect(
        fields["s"],  # type: ignore[arg-type]
        fields["E"],  # type: ignore[arg-type]
        tuple(fields[k] for k in ASSET_KEYS),  # type: ignore[misc]
    )
    if draw(st.booleans()):
        fields = dict(draw(st.permutations(list(fields.items()))))
    if draw(st.integers(0, 3)) > 0:
        return fields, expect
    mutation = draw(st.sampled_from(["value", "value", "missing", "element"]))
    if mutation == "element":
        # Inside an array any JSON value can stand in for an element; a lone
        # payload that is an array would be a (legal) array payload.
        if in_array and draw(st.booleans()):
            arrays: list[Wire] = [[], [fields]]
            return draw(st.sampled_from(arrays)), None
        return draw(not_objects), None
    key = draw(st.sampled_from(["e", "E", "s", *ASSET_KEYS]))
    if mutation == "missing":
        del fields[key]
    else:
        wrong = {"e": wrong_tags, "E": not_ints_nor_null, "s": not_strings_nor_null}
        fields[key] = draw(wrong.get(key, not_asset_decimals))
    return fields, None


bracket_number = st.one_of(number_texts.map(Num), number_texts)


def number_of(value: Wire) -> str | None:
    return value.text if isinstance(value, Num) else None if value is None else str(value)


@st.composite
def bracket_wire(draw: st.DrawFn) -> dict[str, Wire]:
    fields: dict[str, Wire] = {"bs": draw(st.integers(-2, 20) | ints)}
    for key in BRACKET_KEYS:
        if key != "mi":
            fields[key] = draw(bracket_number)
    mi = draw(st.sampled_from(["missing", "null", "value"]))
    if mi != "missing":
        fields["mi"] = None if mi == "null" else draw(bracket_number)
    fields.update(draw(extra_fields))
    if draw(st.booleans()):
        fields = dict(draw(st.permutations(list(fields.items()))))
    return fields


statuses = st.one_of(
    st.sampled_from(["TRADING", "PENDING_TRADING", "SETTLING", "CURRENT_QUARTER DELIVERING"]),
    texts,  # an open set
)
CONTRACT_OPTIONAL = (
    ("ps", texts),
    ("ct", statuses),
    ("cs", statuses),
    ("dt", ints),
    ("ot", ints),
    ("st", st.one_of(st.sampled_from([1, 2]), ints)),
)
presences = st.sampled_from(["missing", "null", "value", "value"])
bracket_lists: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["missing", None, []]), st.lists(bracket_wire(), max_size=4)
)


@st.composite
def contract_element(draw: st.DrawFn) -> Element:
    fields: dict[str, Wire] = {"e": "contractInfo", "E": draw(ints), "s": draw(texts)}
    for key, values in CONTRACT_OPTIONAL:
        presence = draw(presences)
        if presence != "missing":
            fields[key] = None if presence == "null" else draw(values)
    bks = draw(bracket_lists)
    if bks != "missing":
        fields["bks"] = bks
    fields.update(draw(extra_fields))
    ladder: list[dict[str, Wire]] | None = fields.get("bks")  # type: ignore[assignment]
    st_value = fields.get("st")
    assert st_value is None or isinstance(st_value, int)
    expect = ContractExpect(
        symbol=fields["s"],  # type: ignore[arg-type]
        event_time=fields["E"],  # type: ignore[arg-type]
        pair=fields.get("ps"),  # type: ignore[arg-type]
        contract_type=fields.get("ct"),  # type: ignore[arg-type]
        status=fields.get("cs"),  # type: ignore[arg-type]
        delivery_time=fields.get("dt"),  # type: ignore[arg-type]
        onboard_time=fields.get("ot"),  # type: ignore[arg-type]
        market=None if st_value is None else {1: "UM", 2: "CM"}.get(st_value, str(st_value)),
        brackets=None
        if ladder is None
        else tuple(
            (b["bs"], tuple(number_of(b.get(k)) for k in BRACKET_KEYS))  # type: ignore[misc]
            for b in ladder
        ),
    )
    if draw(st.booleans()):
        fields = dict(draw(st.permutations(list(fields.items()))))
    if draw(st.integers(0, 3)) > 0:
        return fields, expect
    targets = ["e", "E", "s", "ps", "ct", "cs", "dt", "ot", "st", "bks", "element", "missing"]
    if ladder:
        targets += ["bracket"] * 4
    target = draw(st.sampled_from(targets))
    if target == "element":
        return draw(not_objects), None
    if target == "missing":
        del fields[draw(st.sampled_from(["e", "E", "s"]))]
    elif target == "e":
        fields["e"] = draw(wrong_tags)
    elif target in ("E", "dt", "ot", "st"):
        fields[target] = draw(not_ints_nor_null if target == "E" else not_ints)
    elif target in ("s", "ps", "ct", "cs"):
        fields[target] = draw(not_strings_nor_null if target == "s" else not_strings)
    elif target == "bks":
        fields["bks"] = draw(not_bracket_lists)
    else:
        assert ladder
        brackets = [dict(b) for b in ladder]
        fields["bks"] = brackets  # type: ignore[assignment]
        n = draw(st.integers(0, len(brackets) - 1))
        key = draw(st.sampled_from(["element", "missing", "bs", *BRACKET_KEYS]))
        if key == "element":
            brackets[n] = draw(st.one_of(not_objects, st.just([])))
        elif key == "missing":
            del brackets[n][draw(st.sampled_from(["bs", "bnf", "bnc", "mmr", "cf", "ma"]))]
        elif key == "bs":
            brackets[n]["bs"] = draw(not_ints_nor_null)
        else:
            # A null `mi` means "not given"; every other number is required.
            bad = not_bracket_numbers if key == "mi" else not_bracket_numbers_nor_null
            brackets[n][key] = draw(bad)
    return fields, None


@dataclass(frozen=True)
class FrameCase:
    stream: str
    payload: bytes
    message: bytes
    elements: list[Expect | None]
    wires: list[Wire]
    as_text: bool


@st.composite
def frame_cases(draw: st.DrawFn) -> FrameCase:
    kind = draw(st.sampled_from(["arr", "arr", "one", "contract"]))
    elements: list[Element]
    if kind == "arr":
        stream = protocol.ASSET_INDEX_ALL
        elements = draw(st.lists(asset_element(), max_size=5))
        data: Wire = [wire for wire, _ in elements]
    else:
        stream = "btcusd@assetIndex" if kind == "one" else protocol.CONTRACT_INFO
        element = draw(asset_element(in_array=False) if kind == "one" else contract_element())
        elements = [element]
        data = element[0]
    style = Style(
        escape=draw(st.sampled_from(["utf8", "utf8", "ascii", "all"])),
        item_sep=draw(st.sampled_from([b",", b",", b", ", b",\n  ", b" ,\r\n\t"])),
        key_sep=draw(st.sampled_from([b":", b":", b": ", b" :\t"])),
    )
    payload = render(data, style)
    pad = draw(st.sampled_from([b"", b"", b" ", b"\n"]))
    head = (
        render_string("stream", style.escape) + style.key_sep + render_string(stream, style.escape)
    )
    body = render_string("data", style.escape) + style.key_sep + payload
    parts = [head, body] if draw(st.booleans()) else [body, head]
    message = pad + b"{" + style.item_sep.join(parts) + b"}" + pad
    return FrameCase(
        stream=stream,
        payload=payload,
        message=message,
        elements=[expect for _, expect in elements],
        wires=[wire for wire, _ in elements],
        as_text=draw(st.integers(0, 3)) == 0,
    )


def check_events(frame: protocol.Frame, case: FrameCase) -> list[Expect]:
    """The frame holds exactly the valid elements, in order; the rest are counted."""
    valid = [e for e in case.elements if e is not None]
    assert frame.malformed == len(case.elements) - len(valid), frame.problem
    assert (frame.problem is not None) == (frame.malformed > 0)
    assert len(frame.events) == len(valid)
    for event, expect in zip(frame.events, valid, strict=True):
        if isinstance(expect, AssetExpect):
            assert isinstance(event, AssetIndex)
            assert (event.symbol, event.event_time) == (expect.symbol, expect.event_time)
            decimals = tuple(getattr(event, name) for name in protocol.ASSET_DECIMAL_FIELDS)
            assert decimals == expect.decimals
        else:
            assert isinstance(event, ContractInfo)
            brackets = (
                None
                if event.brackets is None
                else tuple(
                    (b.bracket, tuple(getattr(b, name) for name in protocol.BRACKET_NUMBER_FIELDS))
                    for b in event.brackets
                )
            )
            got = ContractExpect(
                event.symbol,
                event.event_time,
                event.pair,
                event.contract_type,
                event.status,
                event.delivery_time,
                event.onboard_time,
                event.market,
                brackets,
            )
            assert got == expect
    return valid


def json_text(value: object) -> object:
    """A value as ``json.loads(..., parse_int=str, parse_float=str)`` gives it back."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def check_json_lines(events: list[protocol.Event], valid: list[Expect]) -> None:
    assets = [e for e in events if isinstance(e, AssetIndex)]
    out = encode_assets(assets) if assets else b""
    out += b"".join(encode_contract(e, []) for e in events if isinstance(e, ContractInfo))
    lines = out.split(b"\n")
    assert lines.pop() == b"" and len(lines) == len(valid)
    for line, expect in zip(lines, valid, strict=True):
        # One whole line of valid JSON that no terminal could act on.
        assert b"\r" not in line and not re.search(rb"\xc2[\x80-\x9f]", line)
        got = json.loads(line, parse_int=str, parse_float=str)
        assert got["symbol"] == expect.symbol and got["event_time"] == str(expect.event_time)
        if isinstance(expect, AssetExpect):
            assert got["type"] == "asset_index"
            # The exchange's digits, unchanged (the whitespace around them is JSON's).
            decimals = tuple(got[name] for name in protocol.ASSET_DECIMAL_FIELDS)
            assert decimals == tuple(d.strip(" \t") for d in expect.decimals)
            continue
        assert got["type"] == "contract_info" and got["changes"] == []
        for key in ("pair", "contract_type", "status", "delivery_time", "onboard_time", "market"):
            assert got[key] == json_text(getattr(expect, key)), key
        if expect.brackets is None:
            assert got["brackets"] is None
            continue
        assert [
            (b["bracket"], tuple(b[n] for n in protocol.BRACKET_NUMBER_FIELDS))
            for b in got["brackets"]
        ] == [(str(bs), numbers) for bs, numbers in expect.brackets]


def fast_reference(frame: protocol.Frame) -> tuple[bytes, int, int, int, str] | None:
    if frame.malformed or not frame.events or frame.stream is None:
        return None
    if not all(isinstance(e, AssetIndex) for e in frame.events):
        return None
    events: list[AssetIndex] = frame.events  # type: ignore[assignment]
    return (
        encode_assets(events),
        len(events),
        events[0].event_time,
        events[-1].event_time,
        frame.stream,
    )


@given(frame_cases())
@settings(max_examples=300, deadline=None)
def test_structured_frames_keep_every_valid_element_exactly(case: FrameCase) -> None:
    message: bytes | str = case.message
    if case.as_text:
        # As a text WebSocket message; bytes that were not UTF-8 become lone
        # surrogates, which must still only make their element malformed.
        message = case.message.decode(errors="surrogateescape")
    frame = decode_message(message, want_raw=True)
    assert frame.stream == case.stream and frame.control is None and frame.error is None
    valid = check_events(frame, case)
    # Raw elements (--raw): exactly the valid ones, each one line, as sent.
    good_wires = [w for w, e in zip(case.wires, case.elements, strict=True) if e is not None]
    assert frame.raw is not None and len(frame.raw) == len(good_wires)
    for raw, wire in zip(frame.raw, good_wires, strict=True):
        assert b"\n" not in raw and b"\r" not in raw
        assert json.loads(raw) == plain(wire)
    check_json_lines(frame.events, valid)

    # The same payload from a recording, and from the raw /market/ws path.
    assert protocol.split_envelope(case.message) == (case.stream, case.payload)
    for other in (decode_payload(case.stream, case.payload), protocol.decode_bare(case.payload)):
        assert other.events == frame.events and other.malformed == frame.malformed

    # The C accelerator declines, or writes exactly what the Python path writes.
    # (Covered here for wrong types, extra fields, escapes and bad UTF-8, which
    # tests/test_speedups.py does not generate.)
    if fast_lines is not None:
        expected = fast_reference(frame)
        forms: list[bytes | str] = [case.message]
        if isinstance(message, str) and message.isascii():
            forms.append(message)
        for form in forms:
            got = fast_lines(form)
            assert got is None or got == expected
