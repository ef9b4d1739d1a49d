"""Alerts: how soon ``--exec`` starts after a frame arrives, and whether a burst
of alerts into a slow command slows the JSON lines down.

A small aiohttp server on its own thread stands in for the exchange (both
stream paths and ``exchangeInfo``); ``binmon`` runs as a real process.

* Latency: listing frames 100 ms apart; the command writes the time it
  started (``date +%s%N``, so the figure includes the shell's own start)
  next to the symbol; latency = that time minus the time the server wrote the
  frame to its socket (loopback: the arrival).
* Burst: ``watch --json`` over 40,000 asset frames (20 assets each) and 1,000
  listings sent as fast as possible, once with ``--alert listing --exec 'sleep
  5'`` (four commands run, 256 wait, the rest are counted as dropped) and once
  without alerts; throughput = JSON lines ÷ (last line − first line) as read
  from binmon's stdout. Runs interleaved; medians compared.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

from aiohttp import web

from benchmarks.frames import ASSETS_PER_FRAME, message
from benchmarks.harness import ROOT, Section, binmon_command, child_env, median, spread


def _listing(k: int) -> str:
    data = {
        "e": "contractInfo",
        "E": 1_700_000_000_000 + k,
        "s": f"NEW{k:05d}USDT",
        "ps": f"NEW{k:05d}USDT",
        "ct": "PERPETUAL",
        "dt": 4133404800000,
        "ot": 1_700_000_000_000,
        "cs": "PENDING_TRADING",
        "bks": [],
    }
    return json.dumps({"stream": "!contractInfo", "data": data}, separators=(",", ":"))


class Exchange:
    """Both stream paths and exchangeInfo, scripted per run."""

    def __init__(self) -> None:
        self.asset_frames: list[str] = []
        self.contract_frames: list[str] = []
        self.contract_gap = 0.0
        self.sent_ns: dict[int, int] = {}
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        contracts = "contractInfo" in request.query.get("streams", "")
        if contracts:
            await asyncio.sleep(0.3)  # after the snapshot: the events are compared with it
            for k, frame in enumerate(self.contract_frames):
                await ws.send_str(frame)
                self.sent_ns[k] = time.time_ns()
                if self.contract_gap:
                    await asyncio.sleep(self.contract_gap)
        else:
            await asyncio.sleep(0.3)
            for frame in self.asset_frames:
                await ws.send_str(frame)
        async for _ in ws:
            pass
        return ws

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response({"symbols": []})

    def start(self) -> Exchange:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/market/stream", self._ws)
            app.router.add_get("/fapi/v1/exchangeInfo", self._info)
            app.router.add_get("/fapi/v1/assetIndex", lambda r: web.json_response([]))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=main, daemon=True).start()
        ready.wait(10)
        return self

    def args(self) -> list[str]:
        return [
            "--ws-url",
            f"ws://127.0.0.1:{self.port}",
            "--rest-url",
            f"http://127.0.0.1:{self.port}",
        ]


def latency(section: Section, exchange: Exchange, work: Path, alerts: int = 40) -> float:
    exchange.contract_frames = [_listing(k) for k in range(alerts)]
    exchange.asset_frames = []
    exchange.contract_gap = 0.1
    exchange.sent_ns = {}
    started = work / "started"
    started.write_text("")
    command = f'echo "$BINMON_ALERT_SYMBOL $(date +%s%N)" >> {started}'
    proc = subprocess.Popen(
        [
            *binmon_command(),
            *("contracts", "--json", "--alert", "listing", "--exec", command),
            *("-n", str(alerts), *exchange.args()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
    )
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"binmon exited {proc.returncode}: {err.decode()[-500:]}")
    delays = []
    for line in started.read_text().splitlines():
        symbol, at_ns = line.split()
        k = int(symbol[3:8])
        delays.append((int(at_ns) - exchange.sent_ns[k]) / 1e6)
    if len(delays) != alerts:
        raise RuntimeError(f"{len(delays)} commands started for {alerts} alerts")
    figure = median(delays)
    section.table(
        ["frame arrival → --exec command start", "ms"],
        [
            ["median (min–max, n)", spread(delays, "{:.1f}")],
        ],
    )
    return figure


def _lines_per_second(cmd: list[str], expected: int) -> tuple[float, int]:
    """JSON lines ÷ (last line − first line) as read from stdout; then SIGTERM."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=child_env()
    )
    assert proc.stdout is not None
    first = last = 0.0
    lines = alerts = 0
    for line in proc.stdout:
        now = time.perf_counter()
        if not first:
            first = now
        last = now
        if line.startswith(b'{"type":"alert"'):
            alerts += 1
        else:
            lines += 1
        if lines >= expected:
            break
    # The run is over: do not wait for the sleeping commands (exit grace, then ended).
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    return lines / (last - first), alerts


def burst(section: Section, exchange: Exchange, runs: int, frames: int = 40_000) -> float:
    exchange.asset_frames = [message(k).decode() for k in range(frames)]
    exchange.contract_frames = [_listing(k) for k in range(1000)]
    exchange.contract_gap = 0.0
    expected = frames * ASSETS_PER_FRAME + 1000
    base = [*binmon_command(), "watch", "--json", *exchange.args()]
    with_alerts = [*base, "--alert", "listing", "--exec", "sleep 5"]
    plain: list[float] = []
    alerted: list[float] = []
    raised: list[int] = []
    for _ in range(runs):
        plain.append(_lines_per_second(base, expected)[0])
        eps, count = _lines_per_second(with_alerts, expected)
        alerted.append(eps)
        raised.append(count)
    ratio = median(alerted) / median(plain)
    section.table(
        [f"watch --json, {expected:,} events", "JSON lines/s: median (min–max, n)", "alert lines"],
        [
            ["no alerts", spread(plain), "0"],
            [
                "--alert listing --exec 'sleep 5' (1,000 alerts)",
                spread(alerted),
                f"{min(raised):,}–{max(raised):,}",
            ],
        ],
    )
    return ratio


def run(section: Section, runs: int = 3) -> None:
    import tempfile

    exchange = Exchange().start()
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        figure = latency(section, exchange, Path(tmp))
    section.check(
        "median latency, frame arrival → --exec command start",
        f"{figure:.1f} ms",
        "≤ 50 ms",
        figure <= 50,
    )
    ratio = burst(section, exchange, runs)
    section.check(
        "JSON lines throughput with a burst of 1,000 alerts into a sleeping --exec",
        f"{ratio:.1%} of the run without alerts",
        "≥ 90 %",
        ratio >= 0.9,
    )
