"""``binmon watch`` as a real process on a pseudo-terminal, read back through pyte.

Each test polls the emulated screen against a deadline instead of sleeping,
and kills the child it started if anything goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyte
import pytest
from aiohttp import web

from tests.exchange import FakeExchange, asset_frame, contract_frame, hold, symbol_info
from tests.waiting import wait_until_sync

ROOT = Path(__file__).resolve().parents[1]
NOW_MS = int(time.time() * 1000)


class PtyProcess:
    """``python -m binmon ARGS`` with a pseudo-terminal as stdin, stdout and stderr."""

    def __init__(self, args: list[str], cols: int = 160, rows: int = 50, **extra_env: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        env["TERM"] = "xterm-256color"
        env["PYTHONPATH"] = str(ROOT)
        env.update(extra_env)
        pid, fd = pty.fork()
        if pid == 0:  # the child: set the window size, then become binmon
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.chdir(ROOT)
                os.execve(sys.executable, [sys.executable, "-m", "binmon", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.status: int | None = None

    def pump(self, wait: float = 0.05) -> bool:
        """Feed what the child wrote to the emulator; False when there was nothing."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            time.sleep(wait)
            return False
        self.raw += data
        self.stream.feed(data)
        return True

    @property
    def text(self) -> str:
        return "\n".join(self.screen.display)

    def line(self, starts: str) -> str:
        return next((ln for ln in self.screen.display if ln.startswith(starts)), "")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
        def reached() -> bool:
            if condition():
                return True
            if self.status is None:
                self._poll_exit()
                if self.status is not None and not condition():
                    pytest.fail(f"binmon exited ({self.status}) before {what}:\n{self.text}")
            return False

        # Reading the terminal is the wait: it blocks until the child writes.
        wait_until_sync(reached, timeout, lambda: f"{what}; screen:\n{self.text}", self.pump)

    def wait_for_text(self, *needles: str, timeout: float = 8.0) -> None:
        """Wait until every needle is on screen at once (a paint may arrive in pieces)."""
        self.wait_for(lambda: all(n in self.text for n in needles), repr(needles), timeout)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def resize(self, cols: int, rows: int) -> None:
        # Setting the size on the master makes the kernel send SIGWINCH, like a real terminal.
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen.resize(rows, cols)

    def _poll_exit(self) -> None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.status = os.waitstatus_to_exitcode(status)

    def wait_exit(self, timeout: float = 8.0) -> int:
        def exited() -> bool:
            if self.status is None:
                self._poll_exit()
            return self.status is not None

        # Keep reading meanwhile: a child blocked on a full pty never exits.
        wait_until_sync(exited, timeout, lambda: f"binmon to exit; screen:\n{self.text}", self.pump)
        while self.pump(0):
            pass
        assert self.status is not None
        return self.status

    def terminal_modes(self) -> list[Any]:
        return termios.tcgetattr(self.fd)

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.status = -9
        os.close(self.fd)


# --- a scripted exchange -------------------------------------------------------------


def rest_asset(symbol: str, price: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "time": NOW_MS,
        "index": price,
        "bidBuffer": "0.10000000",
        "askBuffer": "0.10000000",
        "bidRate": "0.24716207",
        "askRate": "0.30208698",
        "autoExchangeBidBuffer": "0.05000000",
        "autoExchangeAskBuffer": "0.05000000",
        "autoExchangeBidRate": "0.26089330",
        "autoExchangeAskRate": "0.28835575",
    }


class Scenario:
    """Asset frames every 0.2 s on every asset connection until told to drop one;
    the connection after a drop is closed at once, the next ones stream again."""

    def __init__(self, exchange: FakeExchange, assets: tuple[str, ...] = ("ADAUSD", "BTCUSD")):
        self.drop = threading.Event()
        self.asset_connections = 0
        self.assets = assets
        self.contract_frames: list[str] = [
            contract_frame(NOW_MS, "LOOMUSDT", "PENDING_TRADING", ps="LOOMUSDT")
        ]
        exchange.exchange_info = {
            "symbols": [symbol_info(s) for s in ("BTCUSDT", "ETHUSDT", "XYZUSDT")]
        }
        exchange.asset_index = [rest_asset(s, "0.27462452") for s in assets]
        exchange.script = self.script

    async def script(self, ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if "contractInfo" in request.query.get("streams", ""):
            await asyncio.sleep(0.3)
            for frame in self.contract_frames:
                await ws.send_str(frame)
            await hold(ws)
            return
        self.asset_connections += 1
        k = self.asset_connections
        if k == 2:
            await ws.close()
            return
        with contextlib.suppress(ConnectionError):
            while not (k == 1 and self.drop.is_set()):
                await ws.send_str(asset_frame(int(time.time() * 1000), self.assets))
                await asyncio.sleep(0.2)
            await ws.close()


@pytest.fixture
def started() -> Iterator[list[PtyProcess]]:
    processes: list[PtyProcess] = []
    yield processes
    for process in processes:
        process.close()


def launch(
    started: list[PtyProcess], args: list[str], cols: int = 160, rows: int = 50, **env: str
) -> PtyProcess:
    process = PtyProcess(args, cols, rows, **env)
    started.append(process)
    return process


def restored(modes: list[Any]) -> bool:
    lflag = modes[3]
    return bool(lflag & termios.ECHO) and bool(lflag & termios.ICANON)


# --- tests ---------------------------------------------------------------------------------


def test_watch_shows_tables_survives_a_drop_and_quits_with_q(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    scenario = Scenario(exchange)
    term = launch(started, ["watch", *exchange.args(), "--stale-after", "3"])
    term.wait_for_text(
        "Asset index",
        "ADAUSD",
        "BTCUSD",
        "Contracts",
        "XYZUSDT",
        "Recent changes",
        "LOOMUSDT  listed (PENDING_TRADING)",
    )
    term.wait_for(
        lambda: (
            all(
                word in term.line("asset index")
                for word in ("● CONNECTED", "msg/s", "lag", "reconnects 0", "/market/stream")
            )
            and "● CONNECTED" in term.line("contract info")
        ),
        "both streams connected",
    )
    # The cbreak mode is on while the screen is up: typed keys are not echoed.
    assert not restored(term.terminal_modes())

    scenario.drop.set()
    term.wait_for(lambda: "RECONNECTING" in term.line("asset index"), "reconnecting")
    assert re.search(r"RECONNECTING( in \d+\.\ds)?", term.line("asset index"))
    term.wait_for(
        lambda: (
            "● CONNECTED" in term.line("asset index")
            and "reconnects 0" not in term.line("asset index")
        ),
        "recovery",
    )

    term.send(b"q")
    assert term.wait_exit() == 0
    assert restored(term.terminal_modes())
    assert b"\x1b[?1049l" in term.raw  # left the alternate screen
    assert b"\x1b[?25h" in term.raw  # cursor shown again
    assert b"Traceback" not in term.raw


def test_ctrl_c_exits_130_and_restores_the_terminal(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    Scenario(exchange)
    term = launch(started, ["watch", *exchange.args()], NO_COLOR="1")
    term.wait_for_text("BTCUSD", "XYZUSDT", "● CONNECTED")
    # NO_COLOR: bold and reverse video still mark things, colours never do.
    sgr = {code for seq in re.findall(rb"\x1b\[([0-9;]*)m", term.raw) for code in seq.split(b";")}
    assert b"1" in sgr
    assert not {c for c in sgr if c[:1] in (b"3", b"4", b"9") and c not in (b"4",)}
    # ^C through the terminal's line discipline: cbreak mode must keep ISIG.
    term.send(b"\x03")
    assert term.wait_exit() == 130
    assert b"Traceback" not in term.raw
    assert restored(term.terminal_modes())
    assert b"\x1b[?1049l" in term.raw


def test_resize_reflows_without_wrapping(exchange: FakeExchange, started: list[PtyProcess]) -> None:
    Scenario(exchange)
    term = launch(started, ["assets", *exchange.args()], cols=160, rows=30)
    term.wait_for_text("auto bid rate", "ADAUSD", "BTCUSD")
    term.resize(80, 24)
    term.wait_for(
        lambda: "auto bid rate" not in term.text and "index price" in term.text, "narrow table"
    )
    rows = [ln for ln in term.screen.display if ln.startswith(("ADAUSD", "BTCUSD"))]
    assert len(rows) == 2  # one line each: nothing wrapped onto a second line
    assert "Contracts" not in term.text  # `assets` shows only its own table
    term.send(b"q")
    assert term.wait_exit() == 0


def test_sort_option_orders_the_asset_table(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    import json

    from tests.exchange import ASSET

    prices = (("AAAUSD", "1.00000000"), ("BBBUSD", "3.00000000"), ("CCCUSD", "2.00000000"))

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        data = [dict(ASSET, E=NOW_MS, s=s, i=p) for s, p in prices]
        await ws.send_str(json.dumps({"stream": "!assetIndex@arr", "data": data}))
        await hold(ws)

    exchange.script = script
    term = launch(started, ["assets", "--sort", "price", *exchange.args()])
    term.wait_for_text("AAAUSD", "BBBUSD", "CCCUSD")
    order = [ln.split()[0] for ln in term.screen.display if ln[:3] in ("AAA", "BBB", "CCC")]
    assert order == ["BBBUSD", "CCCUSD", "AAAUSD"]
    term.send(b"q")
    assert term.wait_exit() == 0


def test_demo_shows_labelled_tables_and_each_kind_of_change(started: list[PtyProcess]) -> None:
    # Four times faster: the opening act (11 ticks from the first subscriber) takes 3 s.
    term = launch(started, ["demo", "--seed", "1", "--rate", "4"], cols=160, rows=45)
    term.wait_for_text("DEMO DATA", "BTCUSD", "ETHUSD", "Contracts", "last change", timeout=10)
    term.wait_for(
        lambda: (
            "● CONNECTED" in term.line("asset index")
            and "● CONNECTED" in term.line("contract info")
        ),
        "both demo streams connected",
    )
    # In the order they come: each stays in the change log for a few seconds.
    for change in (
        "listed (PENDING_TRADING)",
        "max leverage",
        "delivery perpetual →",
        "PENDING_TRADING → TRADING",
    ):
        term.wait_for_text(change)
    # The demo account out of the box: its collateral beside the exchange's own total,
    # its positions first in the contract table with their brackets.
    term.wait_for_text("Collateral  total", "exchange says", "pos bkt", timeout=10)
    # bks and lev from the seeded ladder, then the position's bracket, leverage and margin.
    seeded = re.compile(r"perpetual\s+\d+\s+\d+x\s+\d+\s+\d+x\s+[0-9.]+")
    term.wait_for(
        lambda: seeded.search(term.line("BTCUSDT ")) is not None,
        "the BTCUSDT position on its seeded ladder",
    )
    # Listings and announced delistings are scheduled: the upcoming section has them.
    term.send(b"u")
    term.wait_for_text("Upcoming listings and deliveries", "listing", "delisting", "delivery")
    term.send(b"q")
    assert term.wait_exit() == 0
    assert b"Traceback" not in term.raw


# --- the keys -----------------------------------------------------------------------------

LADDER = [
    {"bs": 1, "bnf": 0, "bnc": 300000, "mmr": 0.004, "cf": 0, "mi": 101, "ma": 125},
    {"bs": 2, "bnf": 300000, "bnc": 800000, "mmr": 0.005, "cf": 300, "mi": 1, "ma": 100},
]


class KeyedExchange:
    """Two assets whose index moves on every frame (0.1 s apart), three perpetuals,
    a listing two minutes away, and BTCUSDT's leverage cut from 125x to 100x."""

    def __init__(self, exchange: FakeExchange) -> None:
        # Two minutes from now (not from NOW_MS: the module may have been imported long ago).
        onboard = int(time.time() * 1000) + 120_000
        soon = dict(symbol_info("SOONUSDT", "PENDING_TRADING"), onboardDate=onboard)
        exchange.exchange_info = {
            "symbols": [symbol_info(s) for s in ("BTCUSDT", "ETHUSDT", "XYZUSDT")] + [soon]
        }
        exchange.asset_index = [rest_asset(s, "0.27462452") for s in ("ADAUSD", "BTCUSD")]
        exchange.script = self.script
        self.frames = 0

    async def script(self, ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        import json

        from tests.exchange import ASSET

        if "contractInfo" in request.query.get("streams", ""):
            cut = [dict(LADDER[0], ma=100), LADDER[1]]
            await ws.send_str(contract_frame(NOW_MS, "BTCUSDT", bks=LADDER))
            await ws.send_str(contract_frame(NOW_MS + 1, "BTCUSDT", bks=cut))
            await hold(ws)
            return
        with contextlib.suppress(ConnectionError):
            while True:
                self.frames += 1
                price = f"1.{self.frames:08d}"
                now = int(time.time() * 1000)
                data = [dict(ASSET, E=now, s=s, i=price) for s in ("ADAUSD", "BTCUSD")]
                await ws.send_str(json.dumps({"stream": "!assetIndex@arr", "data": data}))
                await asyncio.sleep(0.1)


def contract_rows(term: PtyProcess) -> list[str]:
    symbols = ("BTCUSDT", "ETHUSDT", "XYZUSDT", "SOONUSDT")
    return [ln.split()[0] for ln in term.screen.display if ln.startswith(symbols)]


def asset_rows(term: PtyProcess) -> list[str]:
    return [ln for ln in term.screen.display if ln.startswith(("ADAUSD", "BTCUSD "))]


def test_filter_help_and_contract_detail_keys(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    KeyedExchange(exchange)
    term = launch(started, ["watch", *exchange.args()], cols=160, rows=45)
    term.wait_for_text("ADAUSD", "BTCUSD", "SOONUSDT", "b1 max lev 125 → 100", "? help")
    assert len(contract_rows(term)) == 4

    # `/` filter: plain text is found anywhere in the symbol, in both tables.
    term.send(b"/ethx")
    term.wait_for(lambda: term.screen.display[-1].startswith("/ethx"), "the filter prompt")
    term.send(b"\x7f\n")  # Backspace, Enter
    term.wait_for(lambda: contract_rows(term) == ["ETHUSDT"], "only ETHUSDT")
    term.wait_for_text("filter: eth")
    assert asset_rows(term) == []
    term.send(b"/\x15btc*\n")  # a glob matches the whole symbol
    term.wait_for(lambda: contract_rows(term) == ["BTCUSDT"], "only BTCUSDT")
    assert [row.split()[0] for row in asset_rows(term)] == ["BTCUSD"]
    term.send(b"\x1b")  # a lone Esc clears it
    term.wait_for(lambda: len(contract_rows(term)) == 4, "every contract again")
    assert "filter:" not in term.text and len(asset_rows(term)) == 2

    # `?` help lists every key; any key closes it.
    term.send(b"?")
    term.wait_for_text("Keys  (any key closes this)", "pause the display", "upcoming listings")
    # The rest of that paint blanks the tables out.
    term.wait_for(lambda: "Contracts" not in term.text, "the help alone")
    term.send(b"x")
    term.wait_for_text("Contracts", "Asset index")

    # ↑↓ select (the first press selects the top row), Enter opens it, Esc goes back.
    term.send(b"c")  # by symbol: BTCUSDT first
    term.wait_for_text("c sort contracts (symbol)")
    term.send(b"\x1b[B")
    term.wait_for(
        lambda: any(
            term.screen.buffer[y][0].reverse and line.startswith("BTCUSDT")
            for y, line in enumerate(term.screen.display)
        ),
        "BTCUSDT highlighted",
    )
    term.send(b"\n")
    term.wait_for_text(
        "BTCUSDT  PERPETUAL  UM  TRADING  Esc back",
        "Max leverage by notional (log scale)",
        "Changes seen this run",
        "bracket 1 max leverage 125 → 100",
    )
    assert "100x ███" in term.text and "Notional" in term.text
    term.wait_for(lambda: "Contracts" not in term.text, "the detail alone")
    term.send(b"\x1b")
    term.wait_for_text("Contracts", "Asset index")
    term.send(b"q")
    assert term.wait_exit() == 0
    assert b"Traceback" not in term.raw


def test_pause_freezes_the_screen_and_upcoming_counts_down(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    feed = KeyedExchange(exchange)
    term = launch(started, ["watch", *exchange.args()], cols=160, rows=45)
    term.wait_for(lambda: len(asset_rows(term)) == 2 and "SOONUSDT" in term.text, "the tables")

    term.send(b"p")

    def counted() -> int:
        found = re.search(r"(\d+) events received", term.line("binmon watch"))
        return int(found.group(1)) if found else -1

    # Every paint once paused shows the same tables: after a second one, none
    # of the screen is left from before the pause.
    term.wait_for(lambda: counted() >= 2, "a paint while paused")
    frozen = asset_rows(term)
    frames, seen = feed.frames, counted()
    # Events keep arriving and are counted on screen; the tables do not move.
    term.wait_for(lambda: counted() >= seen + 10 and feed.frames >= frames + 5, "events counted")
    assert asset_rows(term) == frozen
    term.send(b"p")
    term.wait_for(lambda: "PAUSED" not in term.text and asset_rows(term) != frozen, "resumed")

    term.send(b"u")
    term.wait_for_text("Upcoming listings and deliveries", "listing")

    def left() -> int | None:
        """Seconds left to SOONUSDT's listing, as the upcoming section shows them."""
        for line in term.screen.display:
            found = re.match(r"\s*in (?:(\d+)m)?(\d+)(?:\.\d)?s\s.*listing\s+SOONUSDT", line)
            if found:
                return int(found.group(1) or 0) * 60 + int(found.group(2))
        return None

    term.wait_for(lambda: left() is not None, "the listing's countdown")
    first = left()
    assert first is not None and 60 < first <= 120
    term.wait_for(lambda: left() != first, "the countdown to move")
    now_left = left()
    assert now_left is not None and first - 3 <= now_left < first  # counting down
    term.send(b"u")
    term.wait_for(lambda: "Upcoming" not in term.text, "upcoming hidden")


def _bells(raw: bytes) -> int:
    """BEL characters rung, not those ending an OSC sequence (a title, say)."""
    return re.sub(rb"\x1b\][^\x07\x1b]*(\x07|\x1b\\)", b"", raw).count(b"\x07")


def test_an_alert_is_marked_in_the_change_log_and_rings_the_bell(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    scenario = Scenario(exchange)
    # The contract stream first says nothing new; the listing comes on our word.
    listing = threading.Event()
    scenario.contract_frames = [contract_frame(NOW_MS, "BTCUSDT")]

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if "contractInfo" not in request.query.get("streams", ""):
            await Scenario.script(scenario, ws, request, n)
            return
        await ws.send_str(contract_frame(NOW_MS, "BTCUSDT"))
        while not listing.is_set():
            await asyncio.sleep(0.02)
        await ws.send_str(contract_frame(NOW_MS + 1, "NEWUSDT", "PENDING_TRADING", ps="NEWUSDT"))
        await hold(ws)

    exchange.script = script
    term = launch(
        started, ["watch", *exchange.args(), "--alert", "listing", "--alert", "status", "--bell"]
    )
    term.wait_for_text("Asset index", "ADAUSD", "BTCUSDT", "Recent changes")
    assert _bells(bytes(term.raw)) == 0  # nothing to tell yet
    listing.set()
    term.wait_for_text("NEWUSDT  ALERT listed: PERPETUAL, status PENDING_TRADING")
    term.wait_for(lambda: _bells(bytes(term.raw)) == 1, "one bell")
    # The row of the symbol is marked: its symbol cell in reverse video.
    row = next(i for i, line in enumerate(term.screen.display) if line.startswith("NEWUSDT "))
    assert term.screen.buffer[row][0].reverse
    term.send(b"q")
    assert term.wait_exit() == 0
    assert _bells(bytes(term.raw)) == 1


def test_holdings_show_a_collateral_section(
    exchange: FakeExchange, started: list[PtyProcess]
) -> None:
    Scenario(exchange)
    term = launch(
        started, ["assets", "--hold", "btc=0.5", "--hold", "USDT=-100", *exchange.args()], rows=20
    )
    # 0.5 × the bid rate 0.24716207 of the scripted frames; USDTUSD is never sent.
    term.wait_for_text(
        "Collateral  total 0.123581035 USD", "bid 0.24716207", "unvalued: no USDTUSD"
    )
    assert term.line("BTC ").split()[:4] == ["BTC", "0.5", "bid", "0.24716207"]
    term.send(b"q")
    assert term.wait_exit() == 0
