"""Metrics: the time of one /metrics scrape, and what scraping costs the streams.

1. One scrape with 700 contracts (10 brackets each) and 40 assets: the HTTP
   round trip of ``GET /metrics`` against binmon's own server (aiohttp, on
   its own thread here), the 40 assets updated and one contract changed
   between scrapes, as a live run has it; beside it, the text alone (warm and
   with nothing cached) and ``prometheus_client``'s ``generate_latest`` for
   the same series (why the text is written by hand).
2. Asset-index event lag (receive time of the JSON line − the event's E)
   of ``binmon assets --json --metrics`` against ``binmon serve``, with a
   client scraping /metrics 10 times a second and without, interleaved.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from benchmarks.harness import (
    BenchError,
    Section,
    binmon_command,
    child_env,
    free_port,
    median,
    require,
    spread,
    stop_process,
    wait_for_port,
)
from binmon.metrics import Metrics
from binmon.protocol import AssetIndex, Bracket, ContractInfo
from binmon.state import ContractBook
from binmon.status import StreamStatus

CONTRACTS, ASSETS, BRACKETS = 700, 40, 10
SCRAPE_TARGET_MS = 20.0
LAG_TARGET = 1.2


def asset(i: int, t: int) -> AssetIndex:
    price = Decimal(1000 + i) + Decimal(t % 997) / 1000
    return AssetIndex(
        f"A{i}USD",
        1_700_000_000_000 + t * 1000,
        f"{price:.8f}",
        "0.05000000",
        "0.05000000",
        f"{price * Decimal('0.95'):.8f}",
        f"{price * Decimal('1.05'):.8f}",
        "0.02500000",
        "0.02500000",
        f"{price * Decimal('0.975'):.8f}",
        f"{price * Decimal('1.025'):.8f}",
    )


def contract(i: int, t: int, leverage: int = 125) -> ContractInfo:
    brackets = [
        Bracket(
            n,
            str((n - 1) * 50_000),
            str(n * 50_000),
            f"{0.004 * n:.4f}",
            str(n * 100),
            "1",
            str(max(1, leverage - 10 * (n - 1))),
        )
        for n in range(1, BRACKETS + 1)
    ]
    return ContractInfo(
        f"S{i:03d}USDT",
        1_700_000_000_000 + t,
        f"S{i:03d}USDT",
        "PERPETUAL",
        "TRADING",
        4133404800000,
        1569398400000,
        "UM",
        brackets,
    )


def market() -> Metrics:
    now = time.monotonic()
    statuses = {
        kind: StreamStatus(kind, state="connected", connected_since=now, last_message_at=now)
        for kind in ("asset index", "contract info")
    }
    book = ContractBook()
    book.seed([])
    metrics = Metrics(statuses, book)
    for i in range(CONTRACTS):
        event = contract(i, 0)
        metrics.contract(event, book.apply(event), None)
    metrics.assets([asset(i, 0) for i in range(ASSETS)], None)
    return metrics


def tick(metrics: Metrics, t: int) -> None:
    """Between two scrapes: every asset moves, one contract changes."""
    metrics.assets([asset(i, t) for i in range(ASSETS)], None)
    event = contract(t % CONTRACTS, t, leverage=100 + t % 25)
    metrics.contract(event, metrics.book.apply(event), None)


@contextmanager
def serving(metrics: Metrics) -> Iterator[tuple[int, asyncio.AbstractEventLoop]]:
    from binmon import metrics_server
    from binmon.endpoints import Listen

    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, metrics_server.MetricsServer] = {}

    async def start() -> None:
        holder["server"] = await metrics_server.start(metrics, Listen("127.0.0.1", 0))
        started.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    require(started.wait(10), "the metrics server did not start")
    try:
        yield holder["server"].port, loop
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def scrape_time(section: Section, scrapes: int) -> None:
    metrics = market()
    text = metrics.exposition()
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    section.say(
        f"{CONTRACTS} contracts ({BRACKETS} brackets each) and {ASSETS} assets: "
        f"{series:,} series, {len(text):,} bytes per scrape."
    )
    section.say()
    cold, warm, http = [], [], []
    for t in range(1, scrapes + 1):
        tick(metrics, t)
        started = time.perf_counter()
        metrics.exposition()
        warm.append((time.perf_counter() - started) * 1000)
    for _ in range(max(5, scrapes // 10)):
        metrics._contract_cache.clear()
        metrics._asset_cache.clear()
        started = time.perf_counter()
        metrics.exposition()
        cold.append((time.perf_counter() - started) * 1000)
    with serving(metrics) as (port, loop):
        url = f"http://127.0.0.1:{port}/metrics"
        for t in range(scrapes + 1, 2 * scrapes + 1):
            # The events arrive on the server's loop, as they do in a run.
            loop.call_soon_threadsafe(tick, metrics, t)
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
            http.append((time.perf_counter() - started) * 1000)
            require(b"binmon_stream_up" in body, "a scrape without the stream families")
    reference = prometheus_client_time(metrics, max(5, scrapes // 10))
    rows = [
        ["GET /metrics, HTTP round trip (client: urllib)", spread(http, "{:.2f}")],
        ["the text alone, contracts cached (a live run)", spread(warm, "{:.2f}")],
        ["the text alone, nothing cached (first scrape)", spread(cold, "{:.2f}")],
    ]
    if reference:
        rows.append(
            [
                "prometheus_client generate_latest, same series (not used)",
                spread(reference, "{:.2f}"),
            ]
        )
    section.table(["one scrape", "ms: median (min–max)"], rows)
    section.figures["scrape_ms"] = median(http)
    section.check(
        f"one /metrics scrape, {CONTRACTS} contracts and {ASSETS} assets (HTTP round trip)",
        f"{median(http):.2f} ms",
        f"≤ {SCRAPE_TARGET_MS:g} ms",
        median(http) <= SCRAPE_TARGET_MS,
    )


def prometheus_client_time(metrics: Metrics, runs: int) -> list[float]:
    """The same series through prometheus_client's collector API and generate_latest."""
    try:
        from prometheus_client import generate_latest
        from prometheus_client.core import CollectorRegistry, Metric
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return []
    families = list(text_string_to_metric_families(metrics.exposition().decode()))

    class Replay:
        # Builds fresh families on each collect, as a custom collector reading state does.
        def collect(self) -> Iterator[Metric]:
            for family in families:
                metric = Metric(family.name, family.documentation, family.type)
                for s in family.samples:
                    metric.add_sample(s.name, s.labels, s.value)
                yield metric

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Replay())
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - started) * 1000)
    return times


def lag_run(serve_port: int, seconds: float, scrape: bool) -> tuple[list[float], int]:
    """Per asset-index frame: receive time of its first line − its E, in ms."""
    metrics_port = free_port()
    proc = subprocess.Popen(
        [
            *binmon_command(),
            "assets",
            "--json",
            "--metrics",
            f"127.0.0.1:{metrics_port}",
            "--ws-url",
            f"ws://127.0.0.1:{serve_port}",
            "--rest-url",
            f"http://127.0.0.1:{serve_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    lags: list[float] = []
    seen: set[int] = set()
    scrapes = 0
    stop = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            received = time.time()
            event_time = json.loads(line)["event_time"]
            if event_time not in seen:
                seen.add(event_time)
                if not stop.is_set():
                    lags.append(received * 1000 - event_time)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for_port(metrics_port, 20, proc)
        # Settle: connected and delivering before anything is counted.
        deadline = time.monotonic() + 20
        while len(lags) < 5:
            if time.monotonic() > deadline:
                raise BenchError("binmon assets --metrics delivered nothing from serve")
            time.sleep(0.05)
        lags.clear()
        if scrape:
            # Its own process: a scraper thread here would share the GIL with
            # the reader above and delay the very lines whose lag is measured.
            scraper = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.metrics",
                    f"http://127.0.0.1:{metrics_port}/metrics",
                    str(seconds),
                    str(serve_port),
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
                env=child_env(),
            )
            require(scraper.returncode == 0, f"the scraper failed: {scraper.stderr[-500:]}")
            scrapes = int(scraper.stdout.split()[-1])
        else:
            time.sleep(seconds)
        stop.set()
    finally:
        stop_process(proc, signal.SIGTERM)
        reader.join(10)
    return list(lags), scrapes


def lag(section: Section, seconds: float, rounds: int) -> None:
    port = free_port()
    serve = subprocess.Popen(
        [*binmon_command(), "serve", "--port", str(port), "--rate", "10", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    calm: list[float] = []
    busy: list[float] = []
    scrapes = 0
    try:
        wait_for_port(port, 20, serve)
        for round_ in range(rounds):
            # Interleaved, the order alternating: drift of the machine hits both alike.
            for scraping in (False, True) if round_ % 2 == 0 else (True, False):
                lags, done = lag_run(port, seconds, scraping)
                require(len(lags) >= seconds * 5, f"only {len(lags)} frames in {seconds:g}s")
                (busy if scraping else calm).extend(lags)
                scrapes += done
    finally:
        stop_process(serve, signal.SIGTERM)
    ratio = median(busy) / median(calm)
    section.say(
        f"`binmon assets --json --metrics` against `binmon serve --rate 10` (its ~20 assets, "
        f"10 frames/s, 650 contracts in the snapshot the metrics show); {rounds} rounds of "
        f"{seconds:g} s per case, interleaved; lag = receive time of a frame's first JSON line "
        "(read by the benchmark) − the frame's E. "
        f"Scraping: {scrapes:,} scrapes in {rounds * seconds:g} s "
        f"({scrapes / (rounds * seconds):.1f}/s)."
    )
    section.say()
    section.table(
        ["case", "frames", "lag ms: median (min–max)", "p90 ms", "p99 ms"],
        [
            [
                name,
                len(values),
                spread(values, "{:.2f}"),
                f"{pct(values, 90):.2f}",
                f"{pct(values, 99):.2f}",
            ]
            for name, values in (("no scraper", calm), ("scraped 10×/s", busy))
        ],
    )
    section.check(
        "asset-index lag scraped 10×/s ÷ not scraped (medians)",
        f"{ratio:.2f}× ({median(busy):.2f} ms vs {median(calm):.2f} ms)",
        f"≤ {LAG_TARGET:g}×",
        ratio <= LAG_TARGET,
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def run(section: Section, scrapes: int, lag_seconds: float, rounds: int) -> None:
    section.say("#### One scrape")
    section.say()
    scrape_time(section, scrapes)
    section.say()
    section.say("#### Asset-index lag while scraped")
    section.say()
    lag(section, lag_seconds, rounds)


def scrape_loop(url: str, seconds: float, seed: int) -> int:
    """GET ``url`` 10 times a second on average, at jittered times, for ``seconds``.

    Jittered: serve's frames come on a 100 ms grid, and a scraper locked to it
    would hit (or miss) them all.
    """
    jitter = random.Random(seed)
    end = time.monotonic() + seconds
    next_scrape = time.monotonic()
    done = 0
    while time.monotonic() < end:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        done += 1
        next_scrape += jitter.uniform(0.05, 0.15)
        time.sleep(max(0.0, next_scrape - time.monotonic()))
    return done


if __name__ == "__main__":
    # The scraper process of the lag benchmark: URL SECONDS SEED; prints the scrapes done.
    print(scrape_loop(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
