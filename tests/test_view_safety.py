"""Strings from the network are text: no markup, no escape sequences, ever."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import time

from aiohttp import web
from rich.console import Console

from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus
from binmon.view import Now, ScreenModel, render_screen
from binmon.view.format import safe
from binmon.view.model import ASSETS, CONTRACTS
from tests.exchange import FakeExchange, hold
from tests.test_view_pty import PtyProcess, rest_asset, symbol_info

MARKUP = "[bold red]X[/]"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
C1_CSI = "\x9b2J"
HOSTILE = (MARKUP, CLEAR, TITLE, C1_CSI)

# What a terminal may legitimately receive from the view: SGR, cursor and
# screen-mode sequences that rich itself writes. Anything else is injected.
RICH_SEQUENCE = re.compile(r"\x1b\[(?:[0-9;]*m|\?1049[hl]|\?25[hl]|H)")


def test_safe_makes_control_characters_visible() -> None:
    assert safe(CLEAR) == "␛[2J"
    assert safe(TITLE) == "␛]0;pwned␇"
    assert safe(C1_CSI) == "\\x9b2J"
    assert safe("a\rb\nc\x7f\x00") == "a␍b␊c␡␀"
    assert safe("USDT\u202eTDSU") == "USDT\\u202eTDSU"  # no right-to-left disguises
    assert safe(MARKUP) == MARKUP  # markup is harmless text once it is never parsed
    assert safe("x" * 500, 10) == "x" * 10 + "…"


def hostile_model() -> ScreenModel:
    book = ContractBook()
    info = {"symbols": [symbol_info(f"H{i}{s}", status=s) for i, s in enumerate(HOSTILE)]}
    book.seed(contracts_from_exchange_info(info))
    model = ScreenModel(contracts=book.contracts)
    t = 1766562549558
    for i, s in enumerate(HOSTILE):
        # Every string field of the event is hostile.
        event = ContractInfo(
            symbol=f"H{i}{s}",
            event_time=t,
            pair=s,
            contract_type=s,
            status=s,
            delivery_time=4133404800000,
            onboard_time=1569398400000,
            market=s,
            brackets=None,
        )
        model.apply_contract(event, book.apply(event))
        value = "0.10000000"
        model.apply_assets([AssetIndex(f"{s}USD", t, *([value] * 9))], t)
    model.statuses = {
        ASSETS: StreamStatus(ASSETS, url=f"ws://{TITLE}/", state="reconnecting", reason=CLEAR),
        CONTRACTS: StreamStatus(CONTRACTS, state="stale", reason=MARKUP),
    }
    model.message(f"binmon: warning: {TITLE}{CLEAR}", t)
    return model


def test_rendered_hostile_strings_carry_no_escape_sequences() -> None:
    out = io.StringIO()
    console = Console(width=200, height=60, file=out, force_terminal=True, color_system="truecolor")
    console.print(render_screen(hostile_model(), 200, 60, Now(1766562549558.0, 100.0)))
    written = out.getvalue()
    injected = RICH_SEQUENCE.sub("", written)
    assert "\x1b" not in injected and "\x07" not in injected and "\x9b" not in injected
    plain = re.sub(r"\x1b\[[0-9;]*m", "", written)
    assert plain.count(MARKUP) >= 5  # shown literally, never interpreted
    assert "␛[2J" in plain and "␛]0;pwned␇" in plain


def test_hostile_strings_in_the_upcoming_section_and_the_detail() -> None:
    from binmon.protocol import Bracket

    model = hostile_model()
    t = 1766562549558
    for i, s in enumerate(HOSTILE):
        contract = model.contracts[f"H{i}{s}"]
        contract.onboard_time = t + 60_000  # a listing ahead: in the upcoming section
        contract.brackets = {1: Bracket(1, "0", s, s, s, s, s)}
    model.contracts_version += 1
    model.show_upcoming = True
    model.search = None
    console = Console(width=200, height=60, file=io.StringIO(), force_terminal=True)
    screens = [render_screen(model, 200, 60, Now(float(t), 100.0))]
    for i, s in enumerate(HOSTILE):
        model.detail = f"H{i}{s}"
        screens.append(render_screen(model, 200, 60, Now(float(t), 100.0)))
    for screen in screens:
        console.print(screen)
    written = console.file.getvalue()  # type: ignore[attr-defined]
    injected = RICH_SEQUENCE.sub("", written)
    assert "\x1b" not in injected and "\x07" not in injected and "\x9b" not in injected
    plain = re.sub(r"\x1b\[[0-9;]*m", "", written)
    assert "Upcoming listings and deliveries  4" in plain and "Changes seen this run" in plain
    assert "The ladder cannot be drawn: not a number" in plain  # said, not a crash
    assert "␛[2J" in plain and MARKUP in plain


def test_hostile_exchange_cannot_take_over_the_terminal(exchange: FakeExchange) -> None:
    now = int(time.time() * 1000)
    exchange.exchange_info = {
        "symbols": [
            symbol_info("BTCUSDT"),
            *(symbol_info(f"H{i}", s) for i, s in enumerate(HOSTILE)),
        ]
    }
    exchange.asset_index = [rest_asset("BTCUSD", "86168.37311999"), rest_asset(TITLE, "1.0")]

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        with contextlib.suppress(ConnectionError):
            if "contractInfo" in request.query.get("streams", ""):
                await asyncio.sleep(0.2)
                for i, s in enumerate(HOSTILE):
                    data = {"e": "contractInfo", "E": now + i, "s": f"H{i}", "ps": s}
                    data.update({"ct": s, "cs": s, "dt": 4133404800000, "ot": 1569398400000})
                    await ws.send_str(json.dumps({"stream": "!contractInfo", "data": data}))
                    await ws.send_str(
                        json.dumps({"stream": "!contractInfo", "data": {**data, "s": s, "E": now}})
                    )
                await hold(ws)
                return
            while True:
                frame = [
                    {"e": "assetIndexUpdate", "E": int(time.time() * 1000), "s": s, "i": "1.0"}
                    | {k: "0.10000000" for k in "baBAqgQG"}
                    for s in (MARKUP, CLEAR, "BTCUSD")
                ]
                await ws.send_str(json.dumps({"stream": "!assetIndex@arr", "data": frame}))
                await asyncio.sleep(0.2)

    exchange.script = script
    term = PtyProcess(["watch", *exchange.args()], cols=200, rows=50)
    try:
        term.wait_for_text(
            "binmon watch",
            "BTCUSDT",
            "BTCUSD",
            MARKUP,
            "␛[2J",
            "␛]0;pwned␇",
            "\\x9b2J",
            f"{MARKUP}  listed ({MARKUP})",
            "pair H1 → ␛[2J",  # a change to a hostile value, in words
        )
        assert term.screen.title == "" and term.screen.icon_name == ""
        assert term.screen.display[0].startswith("binmon watch")  # never cleared
        raw = bytes(term.raw)
        assert b"\x1b]" not in raw and b"\x07" not in raw and b"\xc2\x9b" not in raw
        assert b"\x1b[2J" not in raw
        term.send(b"q")
        assert term.wait_exit() == 0
    finally:
        term.close()
