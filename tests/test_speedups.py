"""The C accelerator against the pure-Python path, which is the reference.

Whatever the accelerator accepts it must encode byte for byte as the Python
path does; whatever the Python path rejects (or takes apart) the accelerator
must decline, returning None.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from binmon.jsonl import encode_assets
from binmon.protocol import AssetIndex, decode_message
from tests.exchange import ASSET, asset_frame

speedups = pytest.importorskip("binmon._speedups")
fast = speedups.asset_index_lines


def reference(message: str | bytes) -> tuple[bytes, int, int, int, str] | None:
    frame = decode_message(message)
    if frame.malformed or not frame.events or frame.stream is None:
        return None
    events = frame.events
    assert all(isinstance(e, AssetIndex) for e in events)
    return (
        encode_assets(events),  # type: ignore[arg-type]
        len(events),
        events[0].event_time,
        events[-1].event_time,
        frame.stream,
    )


def agree(message: str | bytes) -> None:
    got = fast(message)
    if got is not None:
        assert got == reference(message)


def test_a_real_shaped_frame_takes_the_fast_path() -> None:
    frame = asset_frame(1_700_000_000_000, ("ADAUSD", "BTCUSD", "1000SHIBUSD"))
    assert fast(frame) is not None
    assert fast(frame) == reference(frame)
    assert fast(frame.encode()) == reference(frame)


def test_single_object_payload_and_recording_lines() -> None:
    one = json.dumps({"stream": "btcusd@assetIndex", "data": dict(ASSET, E=5, s="BTCUSD")})
    assert fast(one) == reference(one)
    line = json.dumps(
        {"recv_time": 9, "stream": "!assetIndex@arr", "data": [dict(ASSET, E=5, s="X")]}
    )
    result = fast(line)
    assert result is not None and result[1] == 1


@pytest.mark.parametrize(
    "message",
    [
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
    ],
)
def test_declines_what_it_does_not_own(message: bytes) -> None:
    assert fast(message) is None
    assert fast(message.decode(errors="replace")) is None


def test_not_a_string_is_declined() -> None:
    assert fast(5) is None  # type: ignore[arg-type]


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
