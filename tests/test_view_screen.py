"""The whole screen (binmon/view/screen.py): golden screens, fitting the terminal, status lines, ScreenLines."""

# The golden screens are as wide as the terminals they stand for.
# ruff: noqa: E501

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.text import Text

from binmon.runner import ASSETS, CONTRACTS
from binmon.state import Contract, ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus
from binmon.view import ScreenModel, render_screen
from binmon.view.contracts import contract_section
from binmon.view.screen import status_line
from tests.view_fixtures import (
    NOW,
    T,
    build_model,
    colour_terminal,
    keyed_view,
    render,
    with_holdings,
)

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
    console = colour_terminal(width, height)
    for made in screens + screens:
        assert isinstance(made, ScreenLines)
        coloured = _coloured(made, console)
        assert "\x1b[" in coloured
        assert coloured == _coloured(Group(*made.renderables), colour_terminal(width, height))
        shown += coloured
    if width >= 80:  # the detail view's ladder picture and changes were among them
        assert "Max leverage by notional" in shown and "Changes seen this run" in shown
