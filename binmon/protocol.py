"""The exchange's wire protocol, without any I/O.

Stream names and URLs, the combined-stream envelope, typed decoding of
``assetIndexUpdate`` and ``contractInfo`` payloads, control replies and
``{"code","msg"}`` errors.

Decimal values are kept as the exact text the exchange sent (``"0.10000000"``
stays ``0.10000000``): they are validated as JSON numbers once, at decode time,
and never pass through ``float`` or ``Decimal`` on the way out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, cast

import msgspec
from msgspec import Struct
from msgspec import field as wire

DEFAULT_WS_URL: Final = "wss://fstream.binance.com"
DEFAULT_REST_URL: Final = "https://fapi.binance.com"
TESTNET_WS_URL: Final = "wss://fstream.binancefuture.com"
TESTNET_REST_URL: Final = "https://testnet.binancefuture.com"

ASSET_INDEX_ALL: Final = "!assetIndex@arr"
CONTRACT_INFO: Final = "!contractInfo"
PERPETUAL_DELIVERY_MS: Final = 4133404800000
# Anything delivering on or after 2100-01-01 is a perpetual: the exchange uses
# 2100-12-25 (PERPETUAL_DELIVERY_MS), and BTCUSDT has been seen with a value
# 2 s later, so an exact comparison would miss it.
PERPETUAL_FROM_MS: Final = 4102444800000

MARKETS: Final = {1: "UM", 2: "CM"}


def asset_index_stream(asset: str) -> str:
    """``BTCUSD`` -> ``btcusd@assetIndex`` (stream names are lower-case)."""
    return f"{asset.strip().lower()}@assetIndex"


def is_asset_index_stream(stream: str) -> bool:
    return stream == ASSET_INDEX_ALL or stream.endswith("@assetIndex")


def combined_url(base: str, streams: list[str] | tuple[str, ...], *, legacy: bool = False) -> str:
    """The combined-stream URL on the routed ``/market`` path (2026).

    ``legacy`` gives the retired ``/stream`` path, which still acknowledges
    subscriptions but then sends nothing; only the testnet may need it.
    """
    path = "/stream" if legacy else "/market/stream"
    return f"{base.rstrip('/')}{path}?streams={'/'.join(streams)}"


def raw_url(base: str, stream: str) -> str:
    return f"{base.rstrip('/')}/market/ws/{stream}"


# --- exact numbers -------------------------------------------------------

_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SKIP: Final = msgspec.json.Decoder(msgspec.Raw)
_STRING: Final = msgspec.json.Decoder(str)


def number_text(value: object) -> str:
    """Exact JSON-number text of a wire value (a JSON number or a decimal string).

    Raises ``ValueError`` for anything that is not a number.
    """
    if isinstance(value, msgspec.Raw):
        raw = bytes(value)
        # A JSON string stands for its value: "\u0031" is "1", as in a decoded field.
        text = _STRING.decode(raw) if raw.startswith(b'"') else raw.decode()
    elif isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    elif isinstance(value, str | int):
        text = str(value)
    else:
        raise ValueError(f"not a number: {value!r}")
    if not _NUMBER_RE.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return text


def optional_number_text(value: msgspec.Raw) -> str | None:
    """Like :func:`number_text`, with JSON ``null`` meaning "not given"."""
    return None if bytes(value) == b"null" else number_text(value)


def all_numbers(joined: str, expected: int) -> bool:
    """True when ``joined`` is exactly ``expected`` comma-separated JSON numbers.

    This is the asset index hot path, so no regex per value: msgspec's
    validating skip checks the syntax of every value in one C-level pass, and
    the characters every other kind of JSON value must contain (quotes,
    brackets, the letters of true/false/null) are ruled out first.
    Whitespace around a value stays legal JSON and is kept as sent.
    """
    # Line breaks are valid JSON whitespace but would split a JSON line.
    for forbidden in '"{[tfn\n\r':
        if forbidden in joined:
            return False
    if joined.count(",") != expected - 1:
        return False
    try:
        _SKIP.decode(f"[{joined}]")
    except msgspec.DecodeError:
        return False
    return True


# --- typed events --------------------------------------------------------


class AssetIndex(Struct, tag_field="e", tag="assetIndexUpdate", gc=False):
    """One asset index entry; decimals are the exchange's exact strings."""

    symbol: str = wire(name="s")
    event_time: int = wire(name="E")
    index_price: str = wire(name="i")
    bid_buffer: str = wire(name="b")
    ask_buffer: str = wire(name="a")
    bid_rate: str = wire(name="B")
    ask_rate: str = wire(name="A")
    auto_exchange_bid_buffer: str = wire(name="q")
    auto_exchange_ask_buffer: str = wire(name="g")
    auto_exchange_bid_rate: str = wire(name="Q")
    auto_exchange_ask_rate: str = wire(name="G")


ASSET_DECIMAL_FIELDS: Final = (
    "index_price",
    "bid_buffer",
    "ask_buffer",
    "bid_rate",
    "ask_rate",
    "auto_exchange_bid_buffer",
    "auto_exchange_ask_buffer",
    "auto_exchange_bid_rate",
    "auto_exchange_ask_rate",
)


def asset_decimals_valid(events: list[AssetIndex]) -> bool:
    joined = ",".join(
        [
            f"{e.index_price},{e.bid_buffer},{e.ask_buffer},{e.bid_rate},{e.ask_rate},"
            f"{e.auto_exchange_bid_buffer},{e.auto_exchange_ask_buffer},"
            f"{e.auto_exchange_bid_rate},{e.auto_exchange_ask_rate}"
            for e in events
        ]
    )
    return all_numbers(joined, 9 * len(events))


class Bracket(Struct, frozen=True, gc=False):
    """One leverage bracket; numbers are exact JSON-number text."""

    bracket: int
    notional_floor: str
    notional_cap: str
    maint_margin_ratio: str
    cum: str
    min_leverage: str | None
    max_leverage: str | None


BRACKET_NUMBER_FIELDS: Final = (
    "notional_floor",
    "notional_cap",
    "maint_margin_ratio",
    "cum",
    "min_leverage",
    "max_leverage",
)


class _BracketWire(Struct, gc=False):
    bs: int
    bnf: msgspec.Raw
    bnc: msgspec.Raw
    mmr: msgspec.Raw
    cf: msgspec.Raw
    ma: msgspec.Raw
    # Raw takes any JSON value; a missing or null ``mi`` means "not given".
    mi: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class _ContractInfoWire(Struct, tag_field="e", tag="contractInfo", gc=False):
    s: str
    E: int
    ct: str | None = None
    cs: str | None = None
    dt: int | None = None
    ot: int | None = None
    ps: str | None = None
    st: int | None = None
    bks: list[_BracketWire] | None = None


class ContractInfo(Struct, gc=False):
    symbol: str
    event_time: int
    pair: str | None
    contract_type: str | None
    status: str | None
    delivery_time: int | None
    onboard_time: int | None
    market: str | None
    brackets: list[Bracket] | None


def _bracket(w: _BracketWire) -> Bracket:
    return Bracket(
        bracket=w.bs,
        notional_floor=number_text(w.bnf),
        notional_cap=number_text(w.bnc),
        maint_margin_ratio=number_text(w.mmr),
        cum=number_text(w.cf),
        min_leverage=optional_number_text(w.mi),
        max_leverage=number_text(w.ma),
    )


def market_name(st: int | None) -> str | None:
    if st is None:
        return None
    return MARKETS.get(st, str(st))


def _contract(w: _ContractInfoWire) -> ContractInfo:
    return ContractInfo(
        symbol=w.s,
        event_time=w.E,
        pair=w.ps,
        contract_type=w.ct,
        status=w.cs,
        delivery_time=w.dt,
        onboard_time=w.ot,
        market=market_name(w.st),
        brackets=None if w.bks is None else [_bracket(b) for b in w.bks],
    )


Event = AssetIndex | ContractInfo


# --- frames --------------------------------------------------------------


# Array elements are told apart by their tag too: a tagged struct outside a
# union takes an element without "e", which the element-by-element path
# (_salvage) rejects, so one element's fate would hang on its neighbours.
_Payload = list[AssetIndex | _ContractInfoWire] | AssetIndex | _ContractInfoWire


class _Envelope(Struct, gc=False):
    stream: str
    data: _Payload


class _RawEnvelope(Struct, gc=False):
    stream: str
    data: msgspec.Raw


class ControlReply(Struct, frozen=True):
    """Reply to SUBSCRIBE & co: ``{"result": ..., "id": N}``."""

    id: int | str | None
    result: object = None


class ServerError(Struct, frozen=True):
    """``{"code": N, "msg": "..."}``, optionally with the request ``id``."""

    code: int
    msg: str
    id: int | str | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_RAW_ENVELOPE: Final = msgspec.json.Decoder(_RawEnvelope)
_PAYLOAD: Final = msgspec.json.Decoder(_Payload)
_ELEMENT: Final = msgspec.json.Decoder(AssetIndex | _ContractInfoWire)
_RAW_LIST: Final = msgspec.json.Decoder(list[msgspec.Raw])
# Keys only: the values of an unknown message stay undecoded, so an unknown
# field's value (a float out of range, say) cannot sink a bare payload.
_RAW_OBJECT: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_SERVER_ERROR: Final = msgspec.json.Decoder(ServerError)
_CONTROL_REPLY: Final = msgspec.json.Decoder(ControlReply)


@dataclass(slots=True)
class Frame:
    """What one WebSocket message (or one recorded payload) turned out to be."""

    stream: str | None = None
    events: list[Event] = field(default_factory=list)
    # Exact bytes of each event, only when asked for (``--raw``).
    raw: list[bytes] | None = None
    malformed: int = 0
    problem: str | None = None
    control: ControlReply | None = None
    error: ServerError | None = None


def _typed(data: _Payload) -> list[Event]:
    if isinstance(data, list):
        assets = cast(list[AssetIndex], data)
        try:
            if assets and not asset_decimals_valid(assets):
                raise ValueError("asset index value is not a decimal number")
        except AttributeError:
            # A contractInfo element in the array (it has no decimals), which
            # the hot path does not check for: _salvage takes each on its own.
            raise ValueError("unexpected element in an array payload") from None
        return list(assets)
    if isinstance(data, AssetIndex):
        if not asset_decimals_valid([data]):
            raise ValueError("asset index value is not a decimal number")
        return [data]
    return [_contract(data)]


def _compact(raw: bytes) -> bytes:
    # JSON lines need one object per line; reformatting never touches numbers.
    if b"\n" in raw or b"\r" in raw:
        return msgspec.json.format(raw, indent=0)
    return raw


def _salvage(stream: str | None, data: bytes, want_raw: bool, why: str) -> Frame:
    """Slow path: decode a bad frame element by element, keeping the good ones."""
    frame = Frame(stream=stream, raw=[] if want_raw else None, problem=why)
    try:
        elements = _RAW_LIST.decode(data) if data.lstrip()[:1] == b"[" else [msgspec.Raw(data)]
    except ValueError as exc:  # msgspec.DecodeError, or a string that is not UTF-8
        frame.malformed = 1
        frame.problem = str(exc)
        return frame
    for element in elements:
        try:
            typed = _typed(_ELEMENT.decode(element))
        except (msgspec.DecodeError, ValueError) as exc:
            frame.malformed += 1
            frame.problem = str(exc)
            continue
        frame.events.extend(typed)
        if frame.raw is not None:
            frame.raw.append(_compact(bytes(element)))
    return frame


def decode_payload(stream: str | None, data: bytes, *, want_raw: bool = False) -> Frame:
    """Decode one stream payload (the ``data`` of a combined message)."""
    try:
        events = _typed(_PAYLOAD.decode(data))
    except (msgspec.DecodeError, ValueError) as exc:
        return _salvage(stream, data, want_raw, str(exc))
    frame = Frame(stream=stream, events=events)
    if want_raw:
        frame.raw = _raw_elements(data)
    return frame


def _raw_elements(data: bytes) -> list[bytes]:
    if data.lstrip()[:1] == b"[":
        return [_compact(bytes(r)) for r in _RAW_LIST.decode(data)]
    return [_compact(data)]


def decode_message(message: bytes | str, *, want_raw: bool = False) -> Frame:
    """Decode one WebSocket text message of a combined-stream connection.

    Never raises: anything unexpected becomes ``Frame.malformed``.
    """
    if isinstance(message, str):
        message = _utf8(message)
    try:
        env = _ENVELOPE.decode(message)
    except (msgspec.DecodeError, ValueError):
        return _decode_other(message, want_raw)
    try:
        events = _typed(env.data)
    except ValueError as exc:
        return _salvage(env.stream, bytes(_RAW_ENVELOPE.decode(message).data), want_raw, str(exc))
    frame = Frame(stream=env.stream, events=events)
    if want_raw:
        frame.raw = _raw_elements(bytes(_RAW_ENVELOPE.decode(message).data))
    return frame


def _utf8(message: str) -> bytes:
    # A lone surrogate cannot be UTF-8: passed through, it makes the bytes
    # invalid, and so its element malformed, instead of raising here.
    return message.encode(errors="surrogatepass")


def _decode_other(message: bytes, want_raw: bool) -> Frame:
    # Every ``except ValueError`` below also catches msgspec.DecodeError and
    # the UnicodeDecodeError that msgspec raises for a string that is not UTF-8.
    try:
        env = _RAW_ENVELOPE.decode(message)
    except ValueError:
        pass
    else:
        return _salvage(env.stream, bytes(env.data), want_raw, "unexpected payload")
    try:
        other = _RAW_OBJECT.decode(message)
    except msgspec.ValidationError:  # JSON, but not an object
        return Frame(malformed=1, problem="not a stream message")
    except ValueError as exc:
        return Frame(malformed=1, problem=str(exc))
    try:
        if "code" in other and "msg" in other:
            return Frame(error=_SERVER_ERROR.decode(message))
        if "result" in other and "id" in other:
            return Frame(control=_CONTROL_REPLY.decode(message))
    except ValueError as exc:
        return Frame(malformed=1, problem=str(exc))
    if "e" in other:
        # A bare payload, as sent on the raw /market/ws/<stream> path.
        return decode_payload(None, message, want_raw=want_raw)
    return Frame(malformed=1, problem="not a stream message")


def decode_bare(message: bytes | str, *, want_raw: bool = False) -> Frame:
    """Decode a raw-path message: the payload itself, or a control reply."""
    if isinstance(message, str):
        message = _utf8(message)
    stripped = message.lstrip()[:1]
    if stripped == b"[":
        return decode_payload(None, message, want_raw=want_raw)
    return decode_message(message, want_raw=want_raw)


def split_envelope(message: bytes | str) -> tuple[str, bytes] | None:
    """``(stream, exact payload bytes)`` of a combined message, or None."""
    try:
        env = _RAW_ENVELOPE.decode(message)
    except ValueError:  # msgspec.DecodeError, or a stream name that is not UTF-8
        return None
    return env.stream, bytes(env.data)


class _Timed(Struct, gc=False):
    E: int


class _TimedEnvelope(Struct, gc=False):
    data: list[_Timed] | _Timed


_TIMED = msgspec.json.Decoder(_TimedEnvelope)


def first_event_time(message: bytes | str) -> int | None:
    """``E`` of the first event of a combined message, or None; nothing else is decoded."""
    try:
        data = _TIMED.decode(message).data
    except ValueError:  # msgspec.DecodeError / ValidationError, bad UTF-8
        return None
    if isinstance(data, list):
        return data[0].E if data else None
    return data.E
