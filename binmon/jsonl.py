"""Events to JSON lines, exactly as SPEC.md fixes the keys.

Pure. Decimals were validated as JSON numbers when decoded, so they are
written verbatim; symbols are written verbatim only when they are plain
ASCII letters, digits and ``_`` (all real ones), else JSON-escaped.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec

from binmon.collateral import CollateralReport, plain, trimmed
from binmon.positions import Exposure, PositionUpdate
from binmon.protocol import BRACKET_NUMBER_FIELDS, AssetIndex, Bracket, ContractInfo
from binmon.state import Change

_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")


def safe_json(line: bytes) -> bytes:
    """Escape C1 control characters, which JSON allows raw inside strings.

    Some terminals obey them (U+009B is a CSI), and JSON lines do reach
    terminals. ``\u009b`` is the same JSON string, so nothing changes for a parser.
    """
    if b"\xc2" not in line:
        return line
    return _C1_UTF8.sub(lambda m: b"\\u%04x" % m.group()[1], line)


def _encode(obj: Any) -> bytes:
    return safe_json(msgspec.json.encode(obj))


def _plain(text: str) -> bool:
    return text.isascii() and text.replace("_", "").isalnum()


def encode_assets(events: list[AssetIndex]) -> bytes:
    """One line per event; the hot path of ``assets --json``."""
    if not _plain("".join([e.symbol for e in events]) or "X"):
        return b"".join([_encode_asset_slow(e) for e in events])
    return "".join(
        [
            f'{{"type":"asset_index","symbol":"{e.symbol}","event_time":{e.event_time},'
            f'"index_price":{e.index_price},"bid_buffer":{e.bid_buffer},'
            f'"ask_buffer":{e.ask_buffer},"bid_rate":{e.bid_rate},"ask_rate":{e.ask_rate},'
            f'"auto_exchange_bid_buffer":{e.auto_exchange_bid_buffer},'
            f'"auto_exchange_ask_buffer":{e.auto_exchange_ask_buffer},'
            f'"auto_exchange_bid_rate":{e.auto_exchange_bid_rate},'
            f'"auto_exchange_ask_rate":{e.auto_exchange_ask_rate}}}\n'
            for e in events
        ]
    ).encode()


class _AssetLine(msgspec.Struct, gc=False):
    """An asset_index line as :func:`encode_assets` (or the C accelerator) writes it."""

    symbol: str
    event_time: int
    index_price: msgspec.Raw
    bid_buffer: msgspec.Raw
    ask_buffer: msgspec.Raw
    bid_rate: msgspec.Raw
    ask_rate: msgspec.Raw
    auto_exchange_bid_buffer: msgspec.Raw
    auto_exchange_ask_buffer: msgspec.Raw
    auto_exchange_bid_rate: msgspec.Raw
    auto_exchange_ask_rate: msgspec.Raw


_ASSET_LINES = msgspec.json.Decoder(_AssetLine)


def decode_asset_lines(data: bytes) -> list[AssetIndex]:
    """The events back from asset_index lines, numbers as the very digits written."""
    events = []
    for line in data.splitlines():
        if not line:
            continue
        e = _ASSET_LINES.decode(line)
        events.append(
            AssetIndex(
                e.symbol,
                e.event_time,
                bytes(e.index_price).decode(),
                bytes(e.bid_buffer).decode(),
                bytes(e.ask_buffer).decode(),
                bytes(e.bid_rate).decode(),
                bytes(e.ask_rate).decode(),
                bytes(e.auto_exchange_bid_buffer).decode(),
                bytes(e.auto_exchange_ask_buffer).decode(),
                bytes(e.auto_exchange_bid_rate).decode(),
                bytes(e.auto_exchange_ask_rate).decode(),
            )
        )
    return events


def _encode_asset_slow(e: AssetIndex) -> bytes:
    return (
        f'{{"type":"asset_index","symbol":{_encode(e.symbol).decode()},'
        f'"event_time":{e.event_time},"index_price":{e.index_price},'
        f'"bid_buffer":{e.bid_buffer},"ask_buffer":{e.ask_buffer},'
        f'"bid_rate":{e.bid_rate},"ask_rate":{e.ask_rate},'
        f'"auto_exchange_bid_buffer":{e.auto_exchange_bid_buffer},'
        f'"auto_exchange_ask_buffer":{e.auto_exchange_ask_buffer},'
        f'"auto_exchange_bid_rate":{e.auto_exchange_bid_rate},'
        f'"auto_exchange_ask_rate":{e.auto_exchange_ask_rate}}}\n'
    ).encode()


def _num(text: str | None) -> msgspec.Raw | None:
    return None if text is None else msgspec.Raw(text.encode())


def bracket_json(b: Bracket) -> dict[str, Any]:
    out: dict[str, Any] = {"bracket": b.bracket}
    for name in BRACKET_NUMBER_FIELDS:
        out[name] = _num(getattr(b, name))
    return out


def change_json(c: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"field": c.field}
    if c.bracket is not None:
        out["bracket"] = c.bracket
    if c.field == "bracket":
        out["old"] = None if c.old is None else bracket_json(c.old)
        out["new"] = None if c.new is None else bracket_json(c.new)
    elif c.field in BRACKET_NUMBER_FIELDS:
        out["old"], out["new"] = _num(c.old), _num(c.new)
    else:
        out["old"], out["new"] = c.old, c.new
    return out


def _exact(value: Decimal | None) -> msgspec.Raw | None:
    # Results of exact arithmetic, written positionally: equal to the exact value, no exponent.
    return None if value is None else msgspec.Raw(plain(value).encode())


def exposure_json(e: Exposure) -> dict[str, Any]:
    return {
        "notional": _exact(e.notional),
        "bracket": e.bracket,
        "max_leverage": _num(e.max_leverage),
        "maint_margin_ratio": _num(e.maint_margin_ratio),
        # Written as `brackets --notional` writes it: no trailing zeros.
        "maintenance_margin": None
        if e.maintenance_margin is None
        else msgspec.Raw(trimmed(e.maintenance_margin).encode()),
    }


def contract_json(
    event: ContractInfo, changes: list[Change], position: PositionUpdate | None = None
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "contract_info",
        "symbol": event.symbol,
        "event_time": event.event_time,
        "pair": event.pair,
        "contract_type": event.contract_type,
        "status": event.status,
        "delivery_time": event.delivery_time,
        "onboard_time": event.onboard_time,
        "market": event.market,
        "brackets": None if event.brackets is None else [bracket_json(b) for b in event.brackets],
        "changes": [change_json(c) for c in changes],
    }
    if position is not None:
        line["position"] = exposure_json(position.now)
        if position.before is not None:
            line["position_before"] = exposure_json(position.before)
    return line


def encode_contract(
    event: ContractInfo, changes: list[Change], position: PositionUpdate | None = None
) -> bytes:
    return _encode(contract_json(event, changes, position)) + b"\n"


def collateral_json(report: CollateralReport) -> dict[str, Any]:
    return {
        "type": "collateral",
        "event_time": report.event_time,
        "assets": [
            {
                "asset": a.asset,
                "symbol": a.symbol,
                "quantity": _exact(a.quantity),
                "index_price": _num(a.index_price),
                "rate": _num(a.rate),
                "value": _exact(a.value),
                "haircut": _exact(a.haircut),
            }
            for a in report.assets
        ],
        "total_value": _exact(report.total_value),
        "total_haircut": _exact(report.total_haircut),
    }


def encode_collateral(report: CollateralReport) -> bytes:
    """One ``collateral`` line; written after every held frame, so formatted directly."""
    assets = report.assets
    if not _plain("".join([a.holding.asset for a in assets]) or "X"):
        return _encode(collateral_json(report)) + b"\n"
    parts = [
        f'{{"asset":"{a.holding.asset}","symbol":"{a.holding.symbol}",'
        f'"quantity":{a.holding.quantity_text},"index_price":{a.index_price},'
        f'"rate":{a.rate},"value":{a.value_text},"haircut":{a.haircut_text}}}'
        if a.value_text is not None
        else f'{{"asset":"{a.holding.asset}","symbol":"{a.holding.symbol}",'
        f'"quantity":{a.holding.quantity_text},'
        '"index_price":null,"rate":null,"value":null,"haircut":null}'
        for a in assets
    ]
    return (
        f'{{"type":"collateral","event_time":{report.event_time},"assets":[{",".join(parts)}],'
        f'"total_value":{report.total_value_text},"total_haircut":{report.total_haircut_text}}}\n'
    ).encode()


def encode_line(obj: Any) -> bytes:
    return _encode(obj) + b"\n"
