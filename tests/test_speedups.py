"""The C accelerator against the pure-Python path, which is the reference.

Whatever the accelerator accepts it must encode byte for byte as the Python
path does; whatever the Python path rejects (or takes apart) the accelerator
must decline, returning None. The same holds for recording lines against the
replay's Python path. (fuzz/fuzz_speedups.py keeps searching for a counterexample.)
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from binmon.collateral import Holding, fast_holdings, parse_holds
from binmon.protocol import AssetIndex, decode_message
from binmon.recording import SNAPSHOT_STREAM
from tests import speedups_oracle
from tests.exchange import ASSET, asset_frame

speedups = pytest.importorskip("binmon._speedups")
fast = speedups.asset_index_lines
fast_recorded = speedups.recorded_asset_index_lines
reference = speedups_oracle.live
recorded_reference = speedups_oracle.recorded

# The outside audit's counterexample: a receive time with a leading zero, which
# is not JSON (and on a stream name the replay does not take for asset index).
LEADING_ZERO = (
    '{"recv_time":01,"stream":"s","data":{"e":"assetIndexUpdate","E":0,"s":"A","i":"0",'
    '"b":"0","a":"0","B":"0","A":"0","q":"0","g":"0","Q":"0","G":"0"}}'
)


def agree(message: str | bytes) -> None:
    got = fast(message)
    if got is not None:
        assert got == reference(message)
    got = fast_recorded(message)
    if got is not None:
        assert got == recorded_reference(message)


def recording_line(stream: str, data: object, recv_time: object = 9) -> str:
    return json.dumps({"recv_time": recv_time, "stream": stream, "data": data})


def test_a_real_shaped_frame_takes_the_fast_path() -> None:
    frame = asset_frame(1_700_000_000_000, ("ADAUSD", "BTCUSD", "1000SHIBUSD"))
    assert fast(frame) is not None
    assert fast(frame) == reference(frame)
    assert fast(frame.encode()) == reference(frame)


def test_single_object_payload_and_recording_lines() -> None:
    one = json.dumps({"stream": "btcusd@assetIndex", "data": dict(ASSET, E=5, s="BTCUSD")})
    assert fast(one) == reference(one)
    for stream in ("!assetIndex@arr", "btcusd@assetIndex"):
        line = recording_line(stream, [dict(ASSET, E=5, s="X")])
        result = fast_recorded(line)
        assert result is not None and result[1] == 1
        assert result == recorded_reference(line)
        assert fast_recorded(line.encode()) == result


def test_a_receive_time_with_a_leading_zero_is_declined() -> None:
    # Python rejects it (JSON forbids leading zeros): a malformed frame.
    assert decode_message(LEADING_ZERO).malformed == 1
    assert fast(LEADING_ZERO) is None
    assert fast_recorded(LEADING_ZERO) is None
    on_asset_stream = LEADING_ZERO.replace('"stream":"s"', '"stream":"!assetIndex@arr"')
    assert recorded_reference(on_asset_stream) is None
    assert fast_recorded(on_asset_stream) is None
    # Without the zero the very same line takes the fast path: the zero is what is refused.
    fixed = on_asset_stream.replace('"recv_time":01', '"recv_time":1')
    assert fast_recorded(fixed) is not None
    assert fast_recorded(fixed) == recorded_reference(fixed)


@pytest.mark.parametrize("recv_time", ["01", "00", "-1", "1.0", "1e3", '"1"', "null", ""])
def test_a_receive_time_that_is_not_a_plain_integer_is_declined(recv_time: str) -> None:
    line = recording_line("!assetIndex@arr", [dict(ASSET, E=5, s="X")], "RECV").replace(
        '"RECV"', recv_time
    )
    assert fast_recorded(line) is None


def test_a_recording_line_without_its_receive_time_is_declined() -> None:
    # The replay's Python path takes only recorded frames, which have one.
    line = json.dumps({"stream": "!assetIndex@arr", "data": [dict(ASSET, E=5, s="X")]})
    assert recorded_reference(line) is None
    assert fast_recorded(line) is None
    # A live message is exactly that envelope, and the live path takes it.
    assert fast(line) is not None and fast(line) == reference(line)


@pytest.mark.parametrize(
    "stream", ["!contractInfo", SNAPSHOT_STREAM, "btcusd@assetindex", "assetIndex", "x"]
)
def test_a_recording_line_on_another_stream_is_declined(stream: str) -> None:
    # The replay sends such a line down the contract path (or seeds the book
    # from it), so its asset index events must not be written as such.
    line = recording_line(stream, [dict(ASSET, E=5, s="X")])
    assert recorded_reference(line) is None
    assert fast_recorded(line) is None


def test_a_live_message_with_a_receive_time_is_declined() -> None:
    # Only a recording line has one; each entry point takes its own envelope.
    line = recording_line("!assetIndex@arr", [dict(ASSET, E=5, s="X")])
    assert fast_recorded(line) is not None
    assert fast(line) is None


def test_a_repeated_envelope_key_is_declined() -> None:
    element = dict(ASSET, E=5, s="X")
    body = json.dumps(element)
    for line in (
        f'{{"recv_time":1,"recv_time":2,"stream":"!assetIndex@arr","data":[{body}]}}',
        f'{{"recv_time":1,"stream":"!assetIndex@arr","stream":"!assetIndex@arr","data":[{body}]}}',
        f'{{"recv_time":1,"stream":"!assetIndex@arr","data":[{body}],"data":[{body}]}}',
    ):
        assert fast_recorded(line) is None


# Frames the accelerator must leave to the Python path (also the fuzzer's seeds).
DECLINED = [
    b"",
    b"garbage",
    b'{"stream":"x","data":[]}',
    b'{"result":null,"id":1}',
    b'{"stream":"!contractInfo","data":{"e":"contractInfo","E":1,"s":"X"}}',
    asset_frame(1).replace('"i":"0.27462452"', '"i":"abc"').encode(),
    asset_frame(1).replace('"i":"0.27462452"', '"i":"01"').encode(),
    asset_frame(1).replace('"s":"ADAUSD"', '"s":"AD\\"AUSD"').encode(),
    asset_frame(1).replace('"s":"ADAUSD"', '"s":"[bold]"').encode(),
    asset_frame(1).replace('"E":1', '"E":-1').encode(),
    asset_frame(1).replace('"E":1', '"E":1.5').encode(),
    asset_frame(1).replace('"e":"assetIndexUpdate"', '"e":"x"').encode(),
    asset_frame(1).replace('"G":"0.28835575"', '"G":"0.28835575","extra":1').encode(),
    asset_frame(1).replace(',"G":"0.28835575"', "").encode(),
    asset_frame(1)[:-5].encode(),
    asset_frame(1).encode() + b"x",
    LEADING_ZERO.encode(),
]


@pytest.mark.parametrize("message", DECLINED)
def test_declines_what_it_does_not_own(message: bytes) -> None:
    assert fast(message) is None
    assert fast(message.decode(errors="replace")) is None
    assert fast_recorded(message) is None


def test_not_a_string_is_declined() -> None:
    assert fast(5) is None  # type: ignore[arg-type]
    assert fast_recorded(None) is None  # type: ignore[arg-type]


json_number = st.from_regex(
    r"-?(0|[1-9][0-9]{0,8})(\.[0-9]{1,10})?([eE][+-]?[0-9]{1,2})?", fullmatch=True
)
almost_number = st.one_of(json_number, st.text(alphabet="0123456789.-+eE x", max_size=8))
symbol = st.one_of(st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True), st.text(max_size=6))
keys = "ibaBAqgQG"


@st.composite
def messages(draw: st.DrawFn) -> str:
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        fields: dict[str, object] = {
            "e": "assetIndexUpdate",
            "E": draw(st.integers(0, 2**53)),
            "s": draw(symbol),
        }
        fields.update({k: draw(almost_number) for k in keys})
        items = list(fields.items())
        if draw(st.booleans()):
            items = draw(st.permutations(items))
        if draw(st.integers(0, 9)) == 0:
            items = items[1:]
        elements.append(dict(items))
    data: object = elements if draw(st.booleans()) or len(elements) > 1 else elements[0]
    envelope = {
        "stream": draw(st.sampled_from(["!assetIndex@arr", "btcusd@assetIndex"])),
        "data": data,
    }
    text = json.dumps(envelope, separators=(",", ":") if draw(st.booleans()) else (", ", ": "))
    return text


@given(messages())
@settings(max_examples=400, deadline=None)
@example(
    '{"stream":"s","data":{"e":"assetIndexUpdate","E":0,"s":"A","i":"0","b":"0","a":"0","B":"0","A":"0","q":"0","g":"0","Q":"0","G":"0"}}'
)
def test_agrees_with_the_python_path(message: str) -> None:
    agree(message)
    agree(message.encode())


# A receive time as a recording may (or must not) carry it, as JSON text; None: absent.
recv_time_text = st.one_of(
    st.none(),
    st.integers(0, 2**62).map(str),
    st.sampled_from(["01", "-1", "1.5", "1e3", '"7"', "null", "007", "0"]),
)
any_stream = st.sampled_from(
    ["!assetIndex@arr", "btcusd@assetIndex", "!contractInfo", SNAPSHOT_STREAM, "s", "@assetIndex"]
)


@st.composite
def recording_lines(draw: st.DrawFn) -> str:
    envelope = json.loads(draw(messages()))
    envelope["stream"] = draw(any_stream)
    body = json.dumps(envelope)
    recv_time = draw(recv_time_text)
    if recv_time is None:
        return body
    if draw(st.booleans()):
        return f'{{"recv_time":{recv_time},{body[1:]}'
    return f'{body[:-1]},"recv_time":{recv_time}}}'


@given(recording_lines())
@settings(max_examples=400, deadline=None)
@example(LEADING_ZERO)
def test_recording_lines_agree_with_the_replay_path(line: str) -> None:
    agree(line)
    agree(line.encode())


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    agree(data)


def test_spaces_and_any_key_order_still_take_the_fast_path() -> None:
    element = dict(reversed(list(dict(ASSET, E=7, s="ETHUSD").items())))
    message = json.dumps({"data": [element, element], "stream": "!assetIndex@arr"}, indent=1)
    assert fast(message) is not None
    assert fast(message) == reference(message)


def test_feed_output_is_the_same_with_and_without_the_accelerator() -> None:
    import io

    from binmon import feed as feed_module
    from binmon.diag import Diagnostics
    from binmon.feed import Feed
    from binmon.sinks import JsonLinesSink
    from binmon.status import StreamStatus

    messages = []
    for k in range(30):
        messages.append(asset_frame(k, ("ADAUSD", "BTCUSD")))
        if k % 4 == 0:
            messages.append(asset_frame(k, ("ADAUSD", "BTCUSD")))  # a rotation's duplicate
        if k % 5 == 0:
            messages.append('{"stream":"!assetIndex@arr","data":[{"e":"assetIndexUpdate"}]}')
        if k % 7 == 0:
            # An escaped symbol, on a stream of its own: the Python path's job.
            messages.append(
                asset_frame(k, ("ADA\\u001bUSD",)).replace("!assetIndex@arr", "x@assetIndex")
            )

    def run(accelerated: bool) -> bytes:
        out = io.BytesIO()
        feed = Feed(JsonLinesSink(out), Diagnostics(io.StringIO()), count=50)  # type: ignore[arg-type]
        assert (feed._fast is not None) is True
        if not accelerated:
            feed._fast = None
        status = StreamStatus("asset index")
        for message in messages:
            feed.message(message, status)
        return out.getvalue()

    assert feed_module._asset_index_lines is not None
    with_c, without = run(True), run(False)
    assert with_c == without
    assert len(with_c.splitlines()) == 50


def test_text_that_cannot_be_utf8_is_left_to_the_python_path() -> None:
    frame = asset_frame(1).replace("ADAUSD", "\ud800USD")
    assert fast(frame) is None
    assert decode_message(frame).malformed == 1


def test_a_replay_writes_only_what_the_python_path_would(tmp_path: Path) -> None:
    """End to end: ``assets --from`` as fast as possible (the C path), on lines
    that must not reach it as asset index events."""
    from click.testing import CliRunner

    from binmon.cli import cli

    data = json.loads(asset_frame(5, ("ADAUSD",)))["data"]
    lines = [
        recording_line("!assetIndex@arr", data, 1),
        json.dumps({"stream": "!assetIndex@arr", "data": data}),  # no receive time
        recording_line("!contractInfo", data, 2),
        recording_line(SNAPSHOT_STREAM, data, 3),
        recording_line("!assetIndex@arr", data, "RECV").replace('"RECV"', "04"),
        recording_line("!assetIndex@arr", json.loads(asset_frame(6, ("BTCUSD",)))["data"], 5),
    ]
    path = tmp_path / "day.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["assets", "--from", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    written = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["symbol"], e["event_time"]) for e in written] == [("ADAUSD", 5), ("BTCUSD", 6)]


# --- valued_*: a frame and its collateral line, in one C call -----------------------


def _number_text(draw: st.DrawFn) -> str:
    """A JSON number as an exchange (or an odd one) may write it."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["0", "-0", "0.000", "-0.00", "1e5", "1E-3", "-2.5e1", "0.10"]))
    whole = draw(st.integers(0, 10 ** draw(st.integers(1, 34))))
    scale = draw(st.integers(0, 34 if kind == 1 else 10))
    text = str(whole).rjust(scale + 1, "0")
    text = f"{text[: len(text) - scale]}.{text[len(text) - scale :]}" if scale else text
    return ("-" if kind == 2 else "") + text


_NUMBER = st.composite(_number_text)()


@st.composite
def holdings_cases(draw: st.DrawFn) -> tuple[Holding, ...]:
    assets = draw(st.lists(st.sampled_from(_ASSETS), min_size=1, max_size=4, unique=True))
    quantities = st.one_of(
        st.sampled_from(["0", "-0", "0.000", "-1000", "1", "-0.000000001", "999999999999999999"]),
        _NUMBER.filter(lambda text: "e" not in text.lower()),
    )
    return parse_holds([f"{a}={draw(quantities)}" for a in assets])


_ASSETS = ["BTC", "ETH", "USDT", "BNB"]


def message_of(
    entries: list[tuple[str, int, str, str, str]], recv_time: int | None = None
) -> bytes:
    """A combined-stream message of (symbol, event time, index, bid rate, ask rate)
    entries (a recording line when given a receive time)."""
    events = [AssetIndex(s, t, i, "0", "0", b, a, "0", "0", b, a) for s, t, i, b, a in entries]
    envelope: dict[str, object] = {"stream": "!assetIndex@arr", "data": events}
    if recv_time is not None:
        envelope["recv_time"] = recv_time
    return msgspec.json.encode(envelope)


@st.composite
def frame_messages(draw: st.DrawFn, held: tuple[str, ...] = ()) -> bytes:
    """One frame's message (held symbols, others, repeats), with an entry for
    each of ``held`` among them; a recording line one time in four."""
    entry = st.tuples(st.integers(995, 1005), _NUMBER, _NUMBER, _NUMBER)
    others = st.tuples(st.sampled_from([*_ASSETS, "ADA", "SOL"]), entry)
    entries = [(asset, *rest) for asset, rest in draw(st.lists(others, max_size=8))]
    for asset in held:
        entries.insert(draw(st.integers(0, len(entries))), (asset, *draw(entry)))
    if not entries:
        entries.append(("ADA", *draw(entry)))
    recv_time = 7 if draw(st.integers(0, 3)) == 0 else None
    return message_of([(f"{a}USD", t, i, b, k) for a, t, i, b, k in entries], recv_time)


def valued_agrees(message: bytes, holdings: tuple[Holding, ...], floor: int) -> bool:
    """The valued encoder gives the plain lines, with the Python path's collateral
    line after them or nothing (declined); True when it made the line."""
    prepared = fast_holdings(holdings)
    if prepared is None:
        return False  # holdings the C code does not take: Python values every frame
    recorded = b'"recv_time"' in message
    valued = (
        speedups.valued_recorded_asset_index_lines
        if recorded
        else speedups.valued_asset_index_lines
    )
    python = (recorded_reference if recorded else reference)(message)
    got = valued(message, prepared, floor)
    if python is None:
        assert got is None
        return False
    assert got is not None
    lines, newest = got[0], got[5]
    assert (lines[: len(python[0])], *got[1:5]) == python
    if newest is None:
        assert lines == python[0]
        return False
    assert lines[len(python[0]) :] == speedups_oracle.collateral(python[0], holdings, floor)
    assert newest == json.loads(lines.splitlines()[-1])["event_time"] >= floor
    return True


@settings(max_examples=500)
@given(data=st.data(), holdings=holdings_cases(), floor=st.integers(990, 1005))
def test_valued_lines_are_the_python_lines_and_report_or_decline(
    data: st.DataObject, holdings: tuple[Holding, ...], floor: int
) -> None:
    # Mostly frames with every held asset in them: the ones C may value.
    held = tuple(h.asset for h in holdings) if data.draw(st.integers(0, 3)) else ()
    valued_agrees(data.draw(frame_messages(held)), holdings, floor)


def test_valued_lines_of_real_looking_frames() -> None:
    # The stand-in exchange's frame (exchange-like digits).
    frame = asset_frame(1000, ("ADAUSD", "BTCUSD", "USDTUSD")).encode()
    recorded = recording_line("!assetIndex@arr", json.loads(frame)["data"], 5).encode()
    for holds in (["BTC=1", "USDT=-1000"], ["ADA=0", "BTC=-0.5", "USDT=123456.789"], ["BTC=-0"]):
        assert valued_agrees(frame, parse_holds(holds), 1000)
        assert valued_agrees(recorded, parse_holds(holds), 1000)


def test_holdings_the_c_code_does_not_take_leave_plain_lines() -> None:
    frame = asset_frame(1000, ("BTCUSD",))
    assert fast_holdings(parse_holds(["BTC=1" + "0" * 18])) is None  # 10**18: too many digits
    # Too many holdings, or a needle not in the shape it looks for: declined, not refused.
    one = fast_holdings(parse_holds(["BTC=1"]))
    assert one is not None
    made = speedups.valued_asset_index_lines(frame, one * 33, 0)
    assert made is not None and made[5] is None and made[:5] == fast(frame)
    odd = ((b'"symbol":BTCUSD', *one[0][1:]),)
    made = speedups.valued_asset_index_lines(frame, odd, 0)
    assert made is not None and made[5] is None and made[:5] == fast(frame)
    with pytest.raises(TypeError):
        speedups.valued_asset_index_lines(frame, [one[0]], 0)
    with pytest.raises(TypeError):
        speedups.valued_asset_index_lines(frame, one)


_BTC, _USDT = ("BTCUSD", 1000, "1.5", "1.4", "1.6"), ("USDTUSD", 1000, "0.999", "0.998", "1")


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([_BTC], "USDTUSD is missing"),
        ([_USDT, ("BTCUSD", 999, "1", "1", "1")], "older than what is known"),
        ([_BTC, ("USDTUSD", 1000, "1", "1", "1e3")], "an exponent"),
        ([_BTC, ("USDTUSD", 1000, "1", "1", "1E-3")], "an exponent"),
        ([("BTCUSD", 1000, "1", "1" * 31, "1"), _USDT], "31 digits"),
        ([("BTCUSD", 1000, "1", "0." + "1" * 30, "1"), _USDT], "31 digits"),
        ([("BTCUSD", 1000, "-1", "-1", "-1"), _USDT], "nothing: a negative rate is valued"),
    ],
)
def test_valuation_declines(entries: list[tuple[str, int, str, str, str]], why: str) -> None:
    holdings = parse_holds(["BTC=1", "USDT=-1000"])
    assert valued_agrees(message_of([_BTC, _USDT]), holdings, 1000)
    assert valued_agrees(message_of(entries), holdings, 1000) is why.startswith("nothing"), why


def test_valuation_declines_what_could_overflow() -> None:
    big = "9" * 30
    message = message_of([("BTCUSD", 1, big, big, big)])
    # 10**17 × 10**30 does not fit 128 bits: declined, where Python still values it.
    holdings = parse_holds(["BTC=" + "9" * 17])
    assert valued_agrees(message, holdings, 0) is False
    python = reference(message)
    assert python is not None
    assert speedups_oracle.collateral(python[0], holdings, 0) is not None
    # 30 digits by 8: fits, and is exact.
    assert valued_agrees(message, parse_holds(["BTC=99999999"]), 0)
