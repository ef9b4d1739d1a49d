"""Golden tests of the live screen: fixed console size, fixed clocks, no colour."""

# The golden screens are as wide as the terminals they stand for.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import io
import json
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.text import Text

from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.filters import Filters
from binmon.protocol import AssetIndex, Bracket, ContractInfo
from binmon.run_config import Endpoints
from binmon.runner import ASSETS, CONTRACTS, RunConfig, Runner
from binmon.state import Contract, ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus
from binmon.view import LiveView, Now, ScreenModel, make_live_view, render_screen
from binmon.view import format as fmt
from binmon.view.assets import asset_section
from binmon.view.contracts import contract_section
from binmon.view.log import log_section
from binmon.view.screen import status_line
from tests.waiting import wait_until

# 2025-12-24 07:49:09.558 UTC; the monotonic clock is arbitrary.
NOW = Now(wall_ms=1766562549558.0, mono=5000.0)
T = int(NOW.wall_ms)


def render(renderable: RenderableType | list[RenderableType], width: int, height: int = 60) -> str:
    console = Console(
        width=width,
        height=height,
        color_system=None,
        record=True,
        file=io.StringIO(),
        legacy_windows=False,
    )
    for item in renderable if isinstance(renderable, list) else [renderable]:
        console.print(item)
    return console.export_text()


def asset(symbol: str, t: int, price: str, *rest: str) -> AssetIndex:
    return AssetIndex(symbol, t, price, *rest)


ADA = ("0.10000000", "0.10000000", "0.24716207", "0.30208698")
ADA_AUTO = ("0.05000000", "0.05000000", "0.26089330", "0.28835575")
BTC = ("0.05000000", "0.05000000", "81859.95446399", "90476.79177599")
BTC_AUTO = ("0.02500000", "0.02500000", "84014.16379199", "88322.58244799")
USDT = ("0.00010000", "0.00010000", "0.99977692", "0.99997689")


def bracket(n: int, floor: str, cap: str, mmr: str, cum: str, lev: str) -> Bracket:
    return Bracket(n, floor, cap, mmr, cum, None, lev)


def build_model(kinds: tuple[str, ...] = (ASSETS, CONTRACTS)) -> ScreenModel:
    book = ContractBook()
    book.seed(
        [
            Contract(
                "BTCUSDT", "BTCUSDT", "PERPETUAL", "TRADING", 4133404802000, 1569398400000, "UM"
            ),
            Contract(
                "ETHUSDT", "ETHUSDT", "PERPETUAL", "TRADING", 4133404800000, 1569398400000, "UM"
            ),
            Contract(
                "XYZUSDT", "XYZUSDT", "PERPETUAL", "TRADING", 4133404800000, 1697034600000, "UM"
            ),
            Contract(
                "BTCUSDT_251226",
                "BTCUSDT",
                "CURRENT_QUARTER",
                "TRADING",
                1766736000000,
                1750924800000,
                "UM",
            ),
            Contract(
                "币安人生USDT",
                "币安人生USDT",
                "PERPETUAL",
                "TRADING",
                4133404800000,
                1759300000000,
                "UM",
            ),
            Contract(
                "ADAUSD_PERP", "ADAUSD", "PERPETUAL", "TRADING", 4133404800000, 1597042800000, "CM"
            ),
        ]
    )
    model = ScreenModel(kinds=kinds, command="watch", contracts=book.contracts)

    def event(symbol: str, t: int, **kw: object) -> None:
        known = book.contracts.get(symbol)
        fields: dict[str, object] = {
            "pair": known.pair if known else symbol,
            "contract_type": known.contract_type if known else "PERPETUAL",
            "status": known.status if known else "TRADING",
            "delivery_time": known.delivery_time if known else 4133404800000,
            "onboard_time": known.onboard_time if known else 1766560000000,
            "market": None,
            "brackets": [],
        }
        fields.update(kw)
        info = ContractInfo(symbol=symbol, event_time=t, **fields)  # type: ignore[arg-type]
        model.apply_contract(info, book.apply(info))

    btc = [
        bracket(1, "0", "300000", "0.004", "0", "125"),
        bracket(2, "300000", "800000", "0.005", "300", "100"),
    ]
    event("BTCUSDT", T - 600_000, brackets=btc)  # first brackets: not a change
    event(
        "BTCUSDT",
        T - 300_000,
        brackets=[bracket(1, "0", "300000", "0.004", "0", "100"), btc[1]],
    )
    event("XYZUSDT", T - 120_000, status="SETTLING", delivery_time=1766563200000)
    event(
        "ETHUSDT",
        T - 90_000,
        brackets=[bracket(1, "0", "300000", "0.004", "0", "125")],
    )
    event(
        "ETHUSDT",
        T - 80_000,
        brackets=[
            bracket(1, "0", "300000", "0.004", "0", "125"),
            bracket(7, "5000000", "10000000", "0.05", "100000", "10"),
        ],
    )
    event("LOOMUSDT", T - 30_000, status="PENDING_TRADING")

    # Asset index: three ticks a minute apart, the last one 0.5 s ago and changed.
    model.apply_assets(
        [
            asset("ADAUSD", T - 120_000, "0.27462452", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 120_000, "86168.37311999", *BTC, *BTC_AUTO),
            asset("USDTUSD", T - 120_000, "0.99987691", *USDT, *USDT[:2], *USDT[2:]),
        ],
        NOW.wall_ms - 120_000,
    )
    model.apply_assets(
        [
            asset("ADAUSD", T - 60_000, "0.27300000", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 60_000, "86200.00000000", *BTC, *BTC_AUTO),
        ],
        NOW.wall_ms - 60_000,
    )
    model.apply_assets(
        [
            asset("ADAUSD", T - 1_000, "0.27462499", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 1_000, "86168.37311999", *BTC, *BTC_AUTO),
        ],
        NOW.wall_ms - 500,
    )
    model.statuses = {
        ASSETS: StreamStatus(
            ASSETS,
            url="wss://fstream.binance.com/market/stream?streams=!assetIndex@arr",
            state="connected",
            last_message_at=NOW.mono - 0.4,
            last_event_time_ms=T - 1000,
            messages=120,
            rate=1.0,
            rotation_at=NOW.mono + 82_000,
            connected_since=NOW.mono - 800,
        ),
        CONTRACTS: StreamStatus(
            CONTRACTS,
            url="wss://fstream.binance.com/market/stream?streams=!contractInfo",
            state="reconnecting",
            reason="closed by server (code 1000)",
            next_retry_at=NOW.mono + 1.3,
            reconnects=2,
            malformed=1,
            last_message_at=NOW.mono - 30,
        ),
    }
    model.statuses = {k: v for k, v in model.statuses.items() if k in kinds}
    model.lag_ms = {ASSETS: 152.0, CONTRACTS: 87.0}
    model.message(
        "binmon: contract info: closed by server (code 1000); reconnecting in 1.3s", T - 100
    )
    return model


# --- golden tables (no colour, pinned clocks) ----------------------------------------


ASSETS_160 = """\
Asset index  3  sort: symbol
asset         index price  5m trend        5m %     bid buf     ask buf        bid rate        ask rate   auto bid rate   auto ask rate    age
ADAUSD       0.27462499 ▲  ██████▁▁▁▁▁█  +0.00%  0.10000000  0.10000000      0.24716207      0.30208698      0.26089330      0.28835575   1.0s
BTCUSD   86168.37311999 ▼  ▁▁▁▁▁▁█████▁  +0.00%  0.05000000  0.05000000  81859.95446399  90476.79177599  84014.16379199  88322.58244799   1.0s
USDTUSD      0.99987691               ▁          0.00010000  0.00010000      0.99977692      0.99997689      0.99977692      0.99997689  2m00s
"""


ASSETS_80 = """\
Asset index  3  sort: symbol
asset         index price  5m trend            bid rate        ask rate    age
ADAUSD       0.27462499 ▲  ██████▁▁▁▁▁█      0.24716207      0.30208698   1.0s
BTCUSD   86168.37311999 ▼  ▁▁▁▁▁▁█████▁  81859.95446399  90476.79177599   1.0s
USDTUSD      0.99987691               ▁      0.99977692      0.99997689  2m00s
"""


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


LOG = """\
Recent changes  (UTC, newest first)
07:48:39  LOOMUSDT  listed (PENDING_TRADING)
07:47:49  ETHUSDT   bracket 7 added (max leverage 10)
07:47:09  XYZUSDT   TRADING → SETTLING
07:47:09  XYZUSDT   delivery perpetual → 2025-12-24 08:00
07:44:09  BTCUSDT   bracket 1 max leverage 125 → 100
"""


WATCH_160x45 = """\
binmon watch  07:49:09 UTC             q quit  ? help  / filter  s sort assets (symbol)  c sort contracts (recent)  ↑↓ select  Enter detail  u upcoming  p pause
asset index    ● CONNECTED   1.0 msg/s  lag 152ms  last msg 0.4s ago  reconnects 0  malformed 0  rotation in 22h46m  wss://fstream.binance.com/market/stream?st…
contract info  ↻ RECONNECTING in 1.3s  closed by server (code 1000)  0.0 msg/s  lag 87ms  last msg 30s ago  reconnects 2  malformed 1  wss://fstream.binance.co…
Asset index  3  sort: symbol
asset         index price  5m trend        5m %     bid buf     ask buf        bid rate        ask rate   auto bid rate   auto ask rate    age
ADAUSD       0.27462499 ▲  ██████▁▁▁▁▁█  +0.00%  0.10000000  0.10000000      0.24716207      0.30208698      0.26089330      0.28835575   1.0s
BTCUSD   86168.37311999 ▼  ▁▁▁▁▁▁█████▁  +0.00%  0.05000000  0.05000000  81859.95446399  90476.79177599  84014.16379199  88322.58244799   1.0s
USDTUSD      0.99987691               ▁          0.00010000  0.00010000      0.99977692      0.99997689      0.99977692      0.99997689  2m00s
Contracts  7  recent changes first, times UTC
symbol          pair          mkt  type             status           onboard     delivery    bks   lev  last change             when
LOOMUSDT        LOOMUSDT           PERPETUAL        PENDING_TRADING  2025-12-24  perpetual              listed PENDING_TRADING  07:48:39
ETHUSDT         ETHUSDT       UM   PERPETUAL        TRADING          2019-09-25  perpetual     2  125x  bracket 7 added         07:47:49
XYZUSDT         XYZUSDT       UM   PERPETUAL        SETTLING         2023-10-11  2025-12-24             TRADING → SETTLING +1   07:47:09
BTCUSDT         BTCUSDT       UM   PERPETUAL        TRADING          2019-09-25  perpetual     2  100x  b1 max lev 125 → 100    07:44:09
ADAUSD_PERP     ADAUSD        CM   PERPETUAL        TRADING          2020-08-10  perpetual
BTCUSDT_251226  BTCUSDT       UM   CURRENT_QUARTER  TRADING          2025-06-26  2025-12-26
币安人生USDT    币安人生USDT  UM   PERPETUAL        TRADING          2025-10-01  perpetual
Recent changes  (UTC, newest first)
07:48:39  LOOMUSDT  listed (PENDING_TRADING)
07:47:49  ETHUSDT   bracket 7 added (max leverage 10)
07:47:09  XYZUSDT   TRADING → SETTLING
07:47:09  XYZUSDT   delivery perpetual → 2025-12-24 08:00
07:44:09  BTCUSDT   bracket 1 max leverage 125 → 100





















07:49:09  binmon: contract info: closed by server (code 1000); reconnecting in 1.3s
"""


def test_asset_table() -> None:
    assert render(asset_section(build_model(), 160, 10, NOW), 160) == ASSETS_160


def test_asset_table_at_80_columns_drops_low_priority_columns() -> None:
    text = render(asset_section(build_model(), 80, 10, NOW), 80)
    assert text == ASSETS_80
    assert "auto" not in text and "bid buf" not in text  # dropped whole, not squeezed
    assert all(len(line) <= 80 for line in text.splitlines())


def test_contract_table() -> None:
    assert render(contract_section(build_model(), 160, 12, NOW), 160) == CONTRACTS_160


def test_contract_table_at_80_columns_drops_low_priority_columns() -> None:
    text = render(contract_section(build_model(), 80, 12, NOW), 80)
    assert text == CONTRACTS_80
    assert "pair" not in text and "onboard" not in text


def test_change_log() -> None:
    assert render(log_section(build_model(), 80, 9, NOW), 80) == LOG


def test_watch_screen() -> None:
    assert render(render_screen(build_model(), 160, 45, NOW), 160, 45) == WATCH_160x45


def test_assets_screen_shows_only_assets() -> None:
    text = render(render_screen(build_model((ASSETS,)), 120, 12, NOW), 120, 12)
    lines = text.splitlines()
    assert lines[0].startswith("binmon watch")
    assert lines[1].startswith("asset index    ● CONNECTED")
    assert "Contracts" not in text and "Recent changes" not in text
    assert not any(line.startswith("contract info") for line in lines)
    assert len(lines) == 12


def test_contracts_screen_shows_contracts_and_log() -> None:
    text = render(render_screen(build_model((CONTRACTS,)), 120, 20, NOW), 120, 20)
    assert "Asset index" not in text and "asset index" not in text
    assert "contract info  ↻ RECONNECTING in 1.3s  closed by server (code 1000)" in text
    assert "Contracts  7" in text and "Recent changes" in text


def test_demo_label() -> None:
    model = build_model()
    model.demo = True
    model.command = "demo"
    first = render(render_screen(model, 120, 30, NOW), 120, 30).splitlines()[0]
    assert first.startswith("binmon demo   DEMO DATA (local simulated exchange)")


# --- sorting and filtering -----------------------------------------------------------------


def rows_of(text: str, symbols: tuple[str, ...]) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.startswith(symbols)]


def test_asset_sort_orders() -> None:
    model = build_model()
    symbols = ("ADAUSD", "BTCUSD", "USDTUSD")
    model.asset_sort = "price"
    assert rows_of(render(asset_section(model, 160, 10, NOW), 160), symbols) == [
        "BTCUSD",
        "USDTUSD",
        "ADAUSD",
    ]
    model.asset_sort = "change"  # biggest absolute move over the window first
    model.apply_assets([asset("USDTUSD", T, "0.90000000", *USDT, *USDT)], NOW.wall_ms)
    assert rows_of(render(asset_section(model, 160, 10, NOW), 160), symbols)[0] == "USDTUSD"


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


def test_only_visible_rows_are_rendered_and_scrolling_is_clamped() -> None:
    model = build_model((CONTRACTS,))
    for i in range(700):
        model.contracts[f"Z{i:03d}USDT"] = Contract(f"Z{i:03d}USDT", status="TRADING")
    model.contracts_version += 1
    text = render(contract_section(model, 100, 10, NOW), 100)
    assert len(text.splitlines()) == 10
    assert "Contracts  707  rows 1–8" in text
    model.contract_offset = 10_000
    text = render(contract_section(model, 100, 10, NOW), 100)
    assert "rows 700–707" in text and "Z699USDT" in text


@pytest.mark.parametrize("size", [(200, 50), (160, 45), (80, 24), (60, 12), (40, 6), (20, 3)])
def test_screen_never_exceeds_the_terminal(size: tuple[int, int]) -> None:
    width, height = size
    model = build_model()
    for i in range(300):
        model.contracts[f"LONG{i:03d}{'X' * 40}USDT"] = Contract(f"LONG{i}", status="TRADING")
    model.contracts_version += 1
    lines = render(render_screen(model, width, height, NOW), width, height).splitlines()
    assert len(lines) <= height
    assert all(len(line) <= width for line in lines)


def test_real_exchange_info_fills_the_screen(shared_data: Path) -> None:
    info = json.loads((shared_data / "exchange_info.json").read_text())
    book = ContractBook()
    book.seed(contracts_from_exchange_info(info))
    model = ScreenModel(kinds=(CONTRACTS,), contracts=book.contracts)
    lines = render(render_screen(model, 200, 50, NOW), 200, 50).splitlines()
    assert len(lines) == 50
    assert f"Contracts  {len(book.contracts)}  rows 1–45" in lines[1]
    # The end of the list holds the real CJK symbols: two cells per character,
    # and the columns after them must still line up.
    model.contract_offset = len(book.contracts)
    lines = render(render_screen(model, 200, 50, NOW), 200, 50).splitlines()
    rows = [line for line in lines if "USDT " in line]
    assert any(line.startswith("币安人生USDT") for line in rows)
    columns = {cell_len(line[: line.index(" UM ")]) for line in rows}
    assert len(columns) == 1, rows


# --- status lines --------------------------------------------------------------------------


def status(**kw: object) -> str:
    s = StreamStatus(ASSETS, **kw)  # type: ignore[arg-type]
    return render(status_line(s, NOW, 200, periodic=True), 200).rstrip("\n")


def test_status_line_states_are_spelled_out() -> None:
    assert status(state="connecting").startswith("asset index    … CONNECTING   0.0 msg/s")
    connected = status(state="connected", last_message_at=NOW.mono - 0.2, rate=1.0)
    assert connected.startswith("asset index    ● CONNECTED   1.0 msg/s")
    silent = status(state="connected", last_message_at=NOW.mono - 4.0)
    assert silent.startswith("asset index    ◌ SILENT 4.0s ")
    stale = status(state="stale", reason="no data for 10s")
    assert stale.startswith("asset index    ✖ STALE  no data for 10s")
    retry = status(state="reconnecting", reason="connection refused", next_retry_at=NOW.mono + 7)
    assert retry.startswith("asset index    ↻ RECONNECTING in 7.0s  connection refused")
    assert "STOPPED" in status(state="stopped")
    line = status(
        state="connected",
        last_message_at=NOW.mono - 1,
        last_event_time_ms=T - 250,
        reconnects=3,
        malformed=2,
        rotation_at=NOW.mono + 3600 * 5 + 60,
        url="ws://127.0.0.1:9443/market/stream?streams=!assetIndex@arr",
    )
    assert (
        "lag 250ms  last msg 1.0s ago  reconnects 3  malformed 2  rotation in 5h01m  "
        "ws://127.0.0.1:9443/market/stream?streams=!assetIndex@arr"
    ) in line


def test_replay_status() -> None:
    s = StreamStatus(CONTRACTS, messages=3)
    line = render(status_line(s, NOW, 120, periodic=False, replay="day.jsonl.gz"), 120)
    assert line.startswith("contract info  ▶ REPLAY  day.jsonl.gz  0.0 msg/s")
    assert "CONNECTING" not in line


# --- formatting helpers --------------------------------------------------------------------


def test_format_helpers() -> None:
    assert fmt.delivery_text(4133404800000) == "perpetual"
    assert fmt.delivery_text(4133404802000) == "perpetual"  # BTCUSDT's real value
    assert fmt.delivery_text(1766736000000) == "2025-12-26"
    assert fmt.delivery_text(None) == ""
    assert [fmt.duration(s) for s in (0.04, 9.96, 12, 185, 7380, 352800)] == [
        "0.0s",
        "10.0s",
        "12s",
        "3m05s",
        "2h03m",
        "4d02h",
    ]
    assert fmt.clock_time(T - 1000, T) == "07:49:08"
    assert fmt.clock_time(T - 86_400_000, T) == "2025-12-23 07:49"
    assert fmt.lag_text(152) == "152ms" and fmt.lag_text(2500) == "2.5s"
    assert fmt.first_difference("0.27462452", "0.27462499") == 8
    assert fmt.first_difference("99.99", "100.01") == 0
    assert fmt.direction("0.10000000", "0.1") == 0
    assert fmt.direction("0.1", "0.10000001") == 1
    assert fmt.sparkline([(0, 1.0), (50, 2.0), (99, 3.0)], 4, 0, 100) == "▁▁▅█"
    assert fmt.sparkline([(60, 5.0)], 4, 0, 100) == "  ▁▁"
    assert fmt.sparkline([], 3, 0, 100) == "   "


def _sparkline_reference(
    points: list[tuple[float, float]], width: int, start: float, end: float
) -> str:
    """Slot by slot, point by point: what ``fmt.sparkline`` finds by bisection."""
    if width <= 0 or not points or end <= start:
        return " " * max(width, 0)
    span = (end - start) / width
    cells: list[float | None] = [None] * width
    for t, v in points:
        if t >= start:
            cells[min(width - 1, int((t - start) / span))] = v
    filled: list[float | None] = []
    for value in cells:
        filled.append(filled[-1] if value is None and filled else value)
    present = [v for v in filled if v is not None]
    if not present:
        return " " * width
    low, high = min(present), max(present)
    if high - low <= abs(high) * 1e-12:
        return "".join(" " if v is None else fmt.BLOCKS[0] for v in filled)
    scale = (len(fmt.BLOCKS) - 1) / (high - low)
    return "".join(" " if v is None else fmt.BLOCKS[round((v - low) * scale)] for v in filled)


@settings(max_examples=400)
@given(
    times=st.lists(st.integers(0, 400), unique=True, max_size=60),
    values=st.lists(st.floats(-1e6, 1e6), min_size=60, max_size=60),
    width=st.integers(0, 14),
    start=st.integers(-50, 300),
    length=st.floats(0.5, 400),
)
def test_sparkline_is_the_point_by_point_one(
    times: list[int], values: list[float], width: int, start: int, length: float
) -> None:
    # Times on and around slot boundaries, as from a deque (how the rows keep them).
    points = deque((float(t), v) for t, v in zip(sorted(times), values, strict=False))
    expected = _sparkline_reference(list(points), width, start, start + length)
    assert fmt.sparkline(points, width, start, start + length) == expected


@settings(max_examples=300)
@given(
    data=st.data(),
    width=st.integers(1, 14),
    start=st.floats(-1e13, 1e13, allow_nan=False),
    length=st.floats(1e-3, 1e7),
)
def test_sparkline_points_on_slot_boundaries(
    data: st.DataObject, width: int, start: float, length: float
) -> None:
    # Points exactly on the boundaries the slot formula computes, and one float
    # either side, where an off-by-one in the bisection would show.
    import math

    span = length / width
    times = set()
    for k in data.draw(st.lists(st.integers(0, width), max_size=width + 1)):
        at = start + k * span
        times.update((math.nextafter(at, -math.inf), at, math.nextafter(at, math.inf)))
    points = deque((t, float(i % 5)) for i, t in enumerate(sorted(times)))
    expected = _sparkline_reference(list(points), width, start, start + length)
    assert fmt.sparkline(points, width, start, start + length) == expected


def test_a_rows_sparkline_is_drawn_again_only_when_its_history_moves() -> None:
    from binmon.view.assets import spark

    model = build_model()
    row = model.assets["BTCUSD"]
    drawn = spark(row)
    assert spark(row) is drawn  # nothing moved: the same string
    # Each a minute later (a point added), the last within the same second (the
    # last point replaced: the history keeps one a second).
    for at, price in ((60_000, "90000.5"), (120_000, "80000.25"), (120_400, "95000.0")):
        event = asset("BTCUSD", T + at, price, *BTC, *BTC_AUTO)
        model.apply_assets([event], NOW.wall_ms)
        moved = spark(row)
        row.spark = None  # what it draws from scratch
        assert moved == spark(row) != drawn
        drawn = moved


def test_changed_digits_are_emphasised() -> None:
    from binmon.view.assets import flashed
    from binmon.view.model import Flash

    text = flashed("0.27462499", Flash(1, 8, NOW.wall_ms - 100), NOW.wall_ms)
    assert text.plain == "0.27462499"  # the exchange's exact digits
    styles = {(span.start, span.end, str(span.style)) for span in text.spans}
    assert (0, 10, "green") in styles and (8, 10, "bold reverse green") in styles
    expired = flashed("0.27462499", Flash(1, 8, NOW.wall_ms - 2000), NOW.wall_ms)
    assert expired.spans == []


# --- the live view as the runner builds it -----------------------------------------------


def make_runner(kinds: tuple[str, ...] = (ASSETS, CONTRACTS), **config: object) -> Runner:
    env = Environment(
        stdout=io.BytesIO(),
        stderr=io.StringIO(),
        stdout_isatty=True,
        stderr_isatty=False,
        no_color=True,
        width=120,
        height=30,
    )
    run_config = RunConfig(
        kinds=kinds,
        endpoints=Endpoints("ws://127.0.0.1:9", "http://127.0.0.1:9"),
        json=False,
        **config,  # type: ignore[arg-type]
    )
    return Runner(run_config, env, Diagnostics(env.stderr))


def test_runner_gets_a_live_view_with_sort_options() -> None:
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    assert view.sort == "symbol" and view.contract_sort == "recent"
    view.sort = "price"
    assert view.model.asset_sort == "price"
    with pytest.raises(ValueError):
        view.sort = "volume"
    assert isinstance(make_live_view(runner.view_input()), LiveView)


def keyed_view() -> tuple[Runner, LiveView]:
    """A runner's live view over build_model's contracts and assets."""
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    model = build_model()
    runner.book.contracts.update(model.contracts)
    view.model.contracts_version += 1
    view.model.apply_assets([row.event for row in model.assets.values()], NOW.wall_ms)
    view.model.history = model.history
    return runner, view


def screen(view: LiveView, width: int = 160, height: int = 45, now: Now = NOW) -> str:
    return render(render_screen(view.model, width, height, now), width, height)


def test_keys() -> None:
    runner, view = keyed_view()
    view.keys(b"s")
    assert view.sort == "change"
    view.keys(b"cs")
    assert view.contract_sort == "symbol" and view.sort == "price"
    # Arrows move a selection (the first selects the top row); the table follows it.
    view.keys(b"\x1b[B\x1b[Bj")
    assert view.model.selected == "BTCUSDT_251226"  # third by symbol
    view.keys(b"\x1b[A")
    assert view.model.selected == "BTCUSDT"
    view.keys(b"G")
    assert view.model.selected == "币安人生USDT"
    view.keys(b"\x1b[H")
    assert view.model.selected == "ADAUSD_PERP"
    assert not runner.stop.is_set()
    view.keys(b"xq")
    assert view.quit_requested and runner.stop.is_set()


def test_selection_is_highlighted_and_followed_by_scrolling() -> None:
    model = build_model((CONTRACTS,))
    for i in range(50):
        model.contracts[f"Z{i:03d}USDT"] = Contract(f"Z{i:03d}USDT", status="TRADING")
    model.contracts_version += 1
    model.contract_sort = "symbol"
    contract_section(model, 100, 10, NOW)  # a page is 8 rows
    model.move_selection(1)
    model.move_selection(model.contract_page)  # PgDn
    assert model.selected == "Z002USDT"  # the ninth row by symbol
    section = contract_section(model, 100, 10, NOW)
    text = render(section, 100)
    assert "rows 2–9" in text  # scrolled just enough to show it, at the bottom
    highlighted = [
        line.plain.split()[0]
        for line in section
        if isinstance(line, Text) and any("reverse" in str(span.style) for span in line.spans)
    ]
    assert highlighted == ["Z002USDT"]
    model.move_selection(-10_000)
    assert model.selected == "ADAUSD_PERP"
    assert "rows 1–8" in render(contract_section(model, 100, 10, NOW), 100)


def test_filter_prompt_narrows_both_tables_and_esc_restores_them() -> None:
    _, view = keyed_view()
    everything = screen(view)
    assert "BTCUSDT_251226" in everything and "ADAUSD " in everything
    view.keys(b"/btx")
    assert "/btx" in screen(view).splitlines()[-1]  # the prompt, on the last line
    view.keys(b"\x7fc\n")  # Backspace, c, Enter
    assert view.model.prompt is None
    text = screen(view)
    contracts = rows_of(text, ("BTC", "ETH", "XYZ", "LOOM", "ADA", "币安"))
    # Plain text matches anywhere in the symbol, in both tables.
    assert sorted(set(contracts)) == ["BTCUSD", "BTCUSDT", "BTCUSDT_251226"]
    assert "Contracts  2 of 7 match the filters  filter: btc" in text
    assert "Asset index  1  sort: symbol  filter: btc" in text
    view.keys(b"/")
    assert view.model.prompt == "btc"  # the prompt starts from the filter in force
    view.keys(b"\x15*USD\r")  # Ctrl-U, then a glob: the whole symbol must match
    text = screen(view)
    assert sorted(set(rows_of(text, ("BTC", "ETH", "ADA", "USDT")))) == [
        "ADAUSD",
        "BTCUSD",
        "USDTUSD",
    ]
    view.keys(b"\x1b")  # Esc: the filter is gone, every row is back
    assert view.model.search is None
    assert screen(view) == everything
    view.keys(b"/xyz\x1b")  # Esc at the prompt: closed, nothing applied
    assert view.model.prompt is None and view.model.search is None
    assert screen(view) == everything


def test_help_lists_every_key_and_any_key_closes_it() -> None:
    from binmon.view.log import HELP_KEYS

    _, view = keyed_view()
    view.keys(b"?")
    text = screen(view)
    assert "Keys  (any key closes this)" in text and "Contracts" not in text
    for key, what in HELP_KEYS:
        assert f"{key}  " in text and what[:40] in text
    for key in ("/", "?", "p", "u", "Enter", "Esc", "q", "s", "c"):
        assert any(line.strip().startswith(key) for line in text.splitlines()), key
    view.keys(b"s")  # closes the help and does nothing else
    assert not view.model.help_shown and view.sort == "symbol"
    assert "Contracts" in screen(view)


def test_pause_freezes_the_tables_while_events_are_counted() -> None:
    runner, view = keyed_view()
    view.keys(b"p")
    frozen = screen(view)
    assert "⏸ PAUSED  since" in frozen and "0 events received" in frozen
    view.assets([asset("ADAUSD", T + 1000, "0.99999999", *ADA, *ADA_AUTO)], None)
    listed = ContractInfo(
        "NEWUSDT", T, "NEWUSDT", "PERPETUAL", "PENDING_TRADING", 4133404800000, T, "UM", []
    )
    view.contract(listed, runner.book.apply(listed), None)  # the feed updates the book first
    paused = screen(view)
    assert "2 events received" in paused
    # The status lines stay live (lag, counts); the tables below are exactly as they were.
    assert "lag" in paused.splitlines()[1] and "lag" not in frozen.splitlines()[1]
    assert paused.splitlines()[3:] == frozen.splitlines()[3:]
    assert "0.99999999" not in paused
    view.keys(b"p")
    live = screen(view)
    assert "PAUSED" not in live and "0.99999999" in live and "NEWUSDT" in live


def test_upcoming_section_counts_down() -> None:
    runner, view = keyed_view()
    contracts = runner.book.contracts
    contracts["SOONUSDT"] = Contract(
        "SOONUSDT", "SOONUSDT", "PERPETUAL", "PENDING_TRADING", 4133404800000, T + 65_000, "UM"
    )
    contracts["BTCUSDT_260327"] = Contract(
        "BTCUSDT_260327", "BTCUSDT", "NEXT_QUARTER", "TRADING", T + 3 * 86_400_000, T - 1, "UM"
    )
    view.model.contracts_version += 1
    assert "Upcoming" not in screen(view)
    view.keys(b"u")
    text = screen(view)
    assert "Upcoming listings and deliveries  4  (u hides)" in text
    lines = [line for line in text.splitlines() if line.lstrip().startswith("in ")]
    # Soonest first: the listing, XYZUSDT's delisting, then the two quarterlies' deliveries.
    assert [line.split()[:6] for line in lines] == [
        ["in", "1m05s", "2025-12-24", "07:50", "listing", "SOONUSDT"],
        ["in", "10m50s", "2025-12-24", "08:00", "delisting", "XYZUSDT"],
        ["in", "2d00h", "2025-12-26", "08:00", "delivery", "BTCUSDT_251226"],
        ["in", "3d00h", "2025-12-27", "07:49", "delivery", "BTCUSDT_260327"],
    ]
    assert "PENDING_TRADING" in lines[0]
    later = screen(view, now=Now(NOW.wall_ms + 60_000, NOW.mono + 60))
    assert "in 5.0s" in later
    gone = screen(view, now=Now(NOW.wall_ms + 70_000, NOW.mono + 70))
    assert "SOONUSDT" in gone  # still in the contract table…
    assert "Upcoming listings and deliveries  3" in gone  # …no longer upcoming
    view.keys(b"u")
    assert "Upcoming" not in screen(view)


def test_enter_opens_the_contract_with_its_ladder_and_changes() -> None:
    _, view = keyed_view()
    view.keys(b"cjj")  # by symbol: ADAUSD_PERP, then BTCUSDT
    assert view.model.selected == "BTCUSDT"
    view.keys(b"\n")
    text = screen(view)
    lines = text.splitlines()
    assert lines[3].startswith("BTCUSDT  PERPETUAL  UM  TRADING  Esc back")
    assert "listing 2019-09-25 08:00   delivery perpetual" in lines[4]
    # The brackets table and the ladder picture of `binmon brackets`.
    assert "Max leverage by notional (log scale)" in text
    assert "Bracket" in text and "Notional" in text and "300000" in text
    assert "100x ███" in text and "Contracts" not in text
    assert "Changes seen this run" in text
    assert "bracket 1 max leverage 125 → 100" in text
    view.keys(b"\x1b[B")  # the next contract, without leaving the detail
    assert view.model.detail == "BTCUSDT_251226"
    text = screen(view)
    assert "delivery 2025-12-26 08:00 (in 2d00h)" in text
    assert "No brackets seen yet" in text
    view.keys(b"\x1b")
    assert view.model.detail is None and "Contracts" in screen(view)
    assert view.model.search is None


def test_a_lone_escape_is_a_key() -> None:
    from binmon.view.live import _split_keys

    assert _split_keys(b"\x1b") == [b"\x1b"]
    assert _split_keys(b"\x1b/a") == [b"\x1b", b"/", b"a"]
    assert _split_keys(b"\x1b[B\x1b\x1bOA") == [b"\x1b[B", b"\x1b", b"\x1bOA"]


def test_seed_assets_keeps_the_assets_asked_for() -> None:
    runner = make_runner((ASSETS,), assets=("BTCUSD",))
    view = runner.view
    assert isinstance(view, LiveView)
    view.asset_snapshot(
        [
            asset("ADAUSD", T, "0.27462452", *ADA, *ADA_AUTO),
            asset("BTCUSD", T, "86168.37311999", *BTC, *BTC_AUTO),
        ]
    )
    assert list(view.model.assets) == ["BTCUSD"]
    # A late seed never overwrites newer stream data, nor flashes.
    view.assets([asset("BTCUSD", T + 5000, "86000.00000000", *BTC, *BTC_AUTO)], None)
    view.asset_snapshot([asset("BTCUSD", T, "86168.37311999", *BTC, *BTC_AUTO)])
    assert view.model.assets["BTCUSD"].event.index_price == "86000.00000000"


async def test_refresh_loop_paints_and_owns_diagnostics_only_while_running() -> None:
    # (How often it paints under a flood of data, at most four times a second,
    # is measured in benchmarks/view.py: a rate is a timing, not a unit test.)
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    out = runner.env.stdout
    assert isinstance(out, io.BytesIO)
    task = asyncio.create_task(view.run(runner.stop))
    await wait_until(lambda: runner.diag.sink is not None, what="the view to take diagnostics")
    runner.diag.info("asset index: connection closed; reconnecting in 0.5s")
    view.assets([asset("ADAUSD", T + 1, "0.12345678", *ADA, *ADA_AUTO)], None)
    await wait_until(lambda: b"0.12345678" in out.getvalue(), what="a paint with the update")
    runner.stop.set()
    await asyncio.wait_for(task, 2)
    written = out.getvalue()
    assert b"\x1b[?1049h" in written and b"\x1b[?1049l" in written
    assert b"reconnecting in 0.5s" in written  # the diagnostic went to the screen…
    assert runner.env.stderr.getvalue() == ""  # type: ignore[attr-defined]
    assert runner.diag.sink is None  # …and stderr is back afterwards
    assert b"\x1b[3" not in written  # NO_COLOR: no foreground colours


def test_a_replay_is_shown_on_its_own_clock() -> None:
    model = ScreenModel(kinds=(ASSETS,), replay="day.jsonl.gz")
    then = T - 10 * 86_400_000
    model.statuses = {ASSETS: StreamStatus(ASSETS, last_event_time_ms=then)}
    model.apply_assets([asset("ADAUSD", then - 2000, "0.27462452", *ADA, *ADA_AUTO)], then)
    lines = render(render_screen(model, 120, 8, NOW), 120, 8).splitlines()
    assert lines[0].startswith("binmon watch  2025-12-14 07:49:09 UTC (recording)")
    assert lines[1].startswith("asset index    ▶ REPLAY  day.jsonl.gz  0.0 msg/s  at 07:49:09")
    assert "lag" not in lines[1]
    assert lines[4].startswith("ADAUSD") and lines[4].endswith("  2.0s")


def test_an_alert_is_marked_in_the_log_and_on_its_row() -> None:
    from binmon.alerts import Alert
    from binmon.view.model import ALERT_FLASH_MS

    model = build_model()
    model.apply_alert(
        Alert(
            "leverage-cut", "BTCUSDT", T, "BTCUSDT leverage cut: bracket 1 max leverage 125 → 100"
        ),
        NOW.wall_ms,
    )
    model.apply_alert(Alert("feed", None, None, "contract info stream not delivering for 30s"), T)
    log = render(log_section(model, 100, 4, NOW), 100)
    assert "feed      ALERT contract info stream not delivering for 30s" in log
    assert "BTCUSDT   ALERT leverage cut: bracket 1 max leverage 125 → 100" in log
    assert model.alerted("BTCUSDT", NOW.wall_ms)
    # The view repaints when the mark ends, once the sooner value flashes have.
    model.expire_flashes(NOW.wall_ms + ALERT_FLASH_MS - 1)
    assert model.next_flash_expiry() == NOW.wall_ms + ALERT_FLASH_MS
    model.expire_flashes(NOW.wall_ms + ALERT_FLASH_MS)
    assert not model.alerted("BTCUSDT", NOW.wall_ms + ALERT_FLASH_MS)


# --- collateral and positions ----------------------------------------------------------


def with_holdings(model: ScreenModel, exchange_total: str | None = None) -> ScreenModel:
    from binmon.collateral import Collateral, parse_holds

    collateral = Collateral(parse_holds(["BTC=0.5", "USDT=-1000", "ADA=0", "XYZ=3"]))
    collateral.replace(collateral.holdings, exchange_total)
    collateral.events([row.event for row in model.assets.values()])
    model.collateral = collateral.report(T - 1_000)[0]
    return model


COLLATERAL_100 = """\
Collateral  total 39930.000341995 USD  haircut 2154.309308  1 unvalued  at 07:49:08
holding  quantity            rate used      value (USD)      haircut    share
BTC           0.5   bid 81859.95446399  40929.977231995  2154.209328  102.50%
USDT        -1000       ask 0.99997689       -999.97689      0.09998   -2.50%
ADA             0       bid 0.24716207                0            0    0.00%
XYZ             3  unvalued: no XYZUSD
"""


def test_collateral_section() -> None:
    from binmon.view.assets import collateral_section

    model = with_holdings(build_model())
    text = render(collateral_section(model, 100, 10, NOW), 100)
    assert text == COLLATERAL_100


def test_collateral_section_sets_the_exchange_total_beside_ours() -> None:
    from binmon.view.assets import collateral_section

    model = with_holdings(build_model(), exchange_total="39930.01000000")
    title = render(collateral_section(model, 160, 1, NOW), 160)
    assert title.startswith("Collateral  total 39930.000341995 USD  exchange says 39930.01000000")


def test_collateral_sits_under_the_asset_index_on_every_screen() -> None:
    model = with_holdings(build_model())
    screen = render(render_screen(model, 160, 45, NOW), 160, 45).splitlines()
    assets, collateral, contracts = (
        screen.index(next(line for line in screen if line.startswith(title)))
        for title in ("Asset index", "Collateral", "Contracts")
    )
    assert assets < collateral < contracts and contracts - collateral == 6
    for size in ((80, 24), (60, 12), (40, 8)):
        lines = render(render_screen(model, *size, NOW), *size).splitlines()
        assert len(lines) <= size[1] and all(cell_len(line) <= size[0] for line in lines)


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


def _colour_console(width: int, height: int) -> Console:
    return Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )


def _coloured(renderable: RenderableType, console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    file.seek(0)
    file.truncate()
    console.print(renderable)
    return file.getvalue()


@pytest.mark.parametrize(("width", "height"), [(200, 50), (160, 45), (80, 24), (40, 12)])
def test_screen_lines_render_as_a_group_of_them_would(width: int, height: int) -> None:
    # The screen's fast renderable makes each line's segments itself: in colour,
    # on every kind of screen, byte for byte what rich makes of the same lines.
    from rich.console import Group

    from binmon.view.screen import ScreenLines

    _, view = keyed_view()
    screens = []
    for keys in (b"", b"s", b"cjj", b"\n", b"\x1b[B", b"\x1b", b"?", b"x", b"p", b"u", b"/BTC\n"):
        view.keys(keys)
        screens.append(render_screen(view.model, width, height, NOW))
    with_holdings(view.model, "123.45")
    screens.append(render_screen(view.model, width, height, NOW))
    # Lines no fast path takes, left to rich: a table, a tab, a newline, too wide, centred.
    from rich.table import Table

    table = Table("a", "b")
    table.add_row("1", Text("2", style="red"))
    odd = [
        table,
        Text("a\tb", style="bold"),
        Text("two\nlines", style="green"),
        Text("x" * (width + 5), style="blue"),
        Text("centred", justify="center", style="red"),
        Text("plain"),
        Text(""),
        # The same text in other styles: never the segments of the first.
        Text("same", style="red"),
        Text("same", style="blue"),
        Text.assemble(("sa", "bold"), "me"),
        Text.assemble("sa", ("me", "bold")),
    ]
    screens.append(ScreenLines(*odd))
    shown = ""
    # One console for the fast renderable, twice over: lines repeated from
    # screen to screen come from its cache of segments the second time.
    console = _colour_console(width, height)
    for made in screens + screens:
        assert isinstance(made, ScreenLines)
        coloured = _coloured(made, console)
        assert "\x1b[" in coloured
        assert coloured == _coloured(Group(*made.renderables), _colour_console(width, height))
        shown += coloured
    if width >= 80:  # the detail view's ladder picture and changes were among them
        assert "Max leverage by notional" in shown and "Changes seen this run" in shown
