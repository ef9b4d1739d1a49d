from __future__ import annotations

import json
from pathlib import Path

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
