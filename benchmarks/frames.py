"""Synthetic but realistic ``!assetIndex@arr`` frames, pre-encoded and cheap to vary.

Every frame has the exchange's field order (``e,E,s,i,b,a,B,A,q,g,Q,G``),
decimal strings with 8 places that obey the documented relations
(``B = i·(1−b)``, ``A = i·(1+a)``, ``Q = i·(1−q)``, ``G = i·(1+g)``), and
20 assets. Only ``E`` changes from frame to frame (plus a small cycle of
price variants), so a frame is one ``bytes.join`` of pre-encoded parts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

STREAM: Final = "!assetIndex@arr"
START_E: Final = 1784556027000  # 2026-07-20T14:00:27Z, a real event time
EVENT_STEP_MS: Final = 1000  # the stream pushes every second

# (symbol, index price, bid/ask buffer, auto-exchange bid/ask buffer)
ASSETS: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("BTCUSD", "86168.37311999", "0.05000000", "0.02500000"),
    ("ETHUSD", "3012.45871234", "0.05000000", "0.02500000"),
    ("BNBUSD", "612.34561234", "0.05000000", "0.02500000"),
    ("USDTUSD", "0.99891344", "0.00010000", "0.00010000"),
    ("USDCUSD", "0.99987691", "0.00010000", "0.00010000"),
    ("FDUSDUSD", "0.99912345", "0.00010000", "0.00010000"),
    ("BFUSDUSD", "0.99954321", "0.00010000", "0.00010000"),
    ("USD1USD", "0.99976543", "0.00010000", "0.00010000"),
    ("BNFCRUSD", "1.00000000", "0.00000000", "0.00000000"),
    ("LDUSDTUSD", "1.00234567", "0.00500000", "0.00250000"),
    ("RWUSDUSD", "1.00012345", "0.00500000", "0.00250000"),
    ("UUSD", "0.99993456", "0.00010000", "0.00010000"),
    ("ADAUSD", "0.27462452", "0.10000000", "0.05000000"),
    ("XRPUSD", "2.01234567", "0.10000000", "0.05000000"),
    ("DOTUSD", "3.45678901", "0.10000000", "0.05000000"),
    ("SOLUSD", "78.00217964", "0.00000000", "0.00000000"),
    ("BUSDUSD", "0.99987691", "0.00010000", "0.00010000"),
    ("UNIUSD", "3.61187354", "0.10000000", "0.05000000"),
    ("TRXUSD", "0.32658538", "0.10000000", "0.05000000"),
    ("WBETHUSD", "3205.12345678", "0.05000000", "0.02500000"),
)
ASSETS_PER_FRAME: Final = len(ASSETS)
VARIANTS: Final = 64  # price variants cycled through (values move a little)

_Q8: Final = Decimal("0.00000001")
_E_SLOT: Final = b"\x00E\x00"


def _q(value: Decimal) -> str:
    return str(value.quantize(_Q8, rounding=ROUND_HALF_EVEN))


def _element(symbol: str, index: Decimal, buffer: Decimal, auto_buffer: Decimal) -> str:
    one = Decimal(1)
    fields = (
        ("s", symbol),
        ("i", _q(index)),
        ("b", _q(buffer)),
        ("a", _q(buffer)),
        ("B", _q(index * (one - buffer))),
        ("A", _q(index * (one + buffer))),
        ("q", _q(auto_buffer)),
        ("g", _q(auto_buffer)),
        ("Q", _q(index * (one - auto_buffer))),
        ("G", _q(index * (one + auto_buffer))),
    )
    body = ",".join(f'"{k}":"{v}"' for k, v in fields)
    return '{"e":"assetIndexUpdate","E":\x00E\x00,' + body + "}"


def _data_templates(seed: int = 7) -> list[list[bytes]]:
    """``VARIANTS`` payloads (``[...]``), each split at its 20 ``E`` slots."""
    rng = random.Random(seed)
    templates = []
    for _ in range(VARIANTS):
        elements = []
        for symbol, index, buffer, auto_buffer in ASSETS:
            moved = Decimal(index) * (1 + Decimal(rng.randint(-500, 500)) / 1_000_000)
            elements.append(_element(symbol, moved, Decimal(buffer), Decimal(auto_buffer)))
        templates.append(("[" + ",".join(elements) + "]").encode().split(_E_SLOT))
    return templates


_TEMPLATES: Final = _data_templates()
_MESSAGE_PARTS: Final = [
    [b'{"stream":"' + STREAM.encode() + b'","data":' + parts[0], *parts[1:-1], parts[-1] + b"}"]
    for parts in _TEMPLATES
]


def event_time(n: int, start_e: int = START_E) -> int:
    return start_e + n * EVENT_STEP_MS


def message(n: int, start_e: int = START_E) -> bytes:
    """The ``n``-th combined-stream message ``{"stream":…,"data":[…20 assets…]}``."""
    return str(event_time(n, start_e)).encode().join(_MESSAGE_PARTS[n % VARIANTS])


def payload(n: int, start_e: int = START_E) -> bytes:
    """The ``data`` of the ``n``-th message: a JSON array of 20 asset index objects."""
    return str(event_time(n, start_e)).encode().join(_TEMPLATES[n % VARIANTS])


def messages(count: int, start_e: int = START_E, first: int = 0) -> list[bytes]:
    return [message(n, start_e) for n in range(first, first + count)]


def recording_lines(count: int, start_e: int = START_E) -> Iterator[bytes]:
    """Lines of a ``binmon record`` file: ``{"recv_time":ms,"stream":…,"data":…}``."""
    head = b'{"recv_time":'
    middle = b',"stream":"' + STREAM.encode() + b'","data":'
    for n in range(count):
        e = event_time(n, start_e)
        yield head + str(e + 7 + n % 31).encode() + middle + payload(n, start_e) + b"}\n"
