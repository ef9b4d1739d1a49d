"""Section 1: live JSON-lines throughput of binmon against three baselines.

Every client is a real subprocess connecting to the bench server (its own
process) and writing to /dev/null. The figure is events / (time the process
exited − time the server wrote the first frame): connection set-up and
interpreter start-up are outside it, the client's orderly shutdown inside.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from dataclasses import dataclass, field

from benchmarks import frames as wire
from benchmarks.harness import (
    BenchError,
    BenchServerProcess,
    Section,
    binmon_command,
    median,
    python_module,
    require,
    run_process,
    spread,
)

BINMON, NAIVE, STDLIB, SDK, RECEIVE = "binmon", "naive", "stdlib", "sdk", "receive"
HOLD = "hold"
# Two holdings, one valued at the bid rate and one at the ask: a collateral line per frame.
HOLDINGS = ("--hold", "BTC=1", "--hold", "USDT=-1000")
LABELS = {
    BINMON: "binmon assets --json",
    HOLD: "binmon assets --json --hold BTC=1 --hold USDT=-1000",
    NAIVE: "naive: aiohttp + orjson.loads/frame + orjson.dumps/event",
    STDLIB: "naive stdlib: aiohttp + json.loads/frame + json.dumps/event",
    SDK: "Binance SDK (binance-sdk-derivatives-trading-usds-futures), to_json()/event",
    RECEIVE: "aiohttp receive only (ceiling)",
}
SDK_PACKAGE = "binance_sdk_derivatives_trading_usds_futures"


def command(client: str, url: str, events: int, timeout: float) -> list[str]:
    if client == BINMON:
        return [*binmon_command(), "assets", "--json", "--ws-url", url, "-n", str(events)]
    if client == HOLD:
        return [
            *binmon_command(), "assets", "--json", *HOLDINGS, "--ws-url", url, "-n", str(events),
        ]  # fmt: skip
    if client == NAIVE:
        return [*python_module("benchmarks.naive_client"), url, str(events)]
    if client == STDLIB:
        return [*python_module("benchmarks.naive_client"), url, str(events), "--stdlib"]
    if client == RECEIVE:
        return [*python_module("benchmarks.naive_client"), url, str(events), "--receive-only"]
    if client == SDK:
        return [
            *python_module("benchmarks.sdk_client"),
            url,
            str(events),
            "--timeout",
            str(timeout),
        ]
    raise ValueError(client)


def timeout_for(events: int) -> float:
    # Generous: the slowest client (the SDK) does ~40k events/s here.
    return 60.0 + events / 4000


@dataclass
class Runs:
    stream: list[float] = field(default_factory=list)  # events/s, first frame -> exit
    elapsed: list[float] = field(default_factory=list)  # seconds, first frame -> exit
    # Seconds, first frame -> exit, of a one-frame run: the fixed cost (shutdown).
    fixed: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)  # events/s, spawn -> exit
    internal: list[float] = field(default_factory=list)  # events/s, the client's own clock


def check_baselines_importable() -> None:
    for module, package in (
        ("orjson", "orjson"),
        (SDK_PACKAGE, "binance-sdk-derivatives-trading-usds-futures"),
    ):
        if importlib.util.find_spec(module) is None:
            raise BenchError(
                f"a baseline needs {package}, which {sys.executable} cannot import; "
                "install the bench extra: pip install -e '.[dev,bench]' (make bench does)"
            )


def verify(server: BenchServerProcess, client: str, frames: int) -> None:
    """An unmeasured run with stdout kept: the client must write every event, correctly."""
    events = frames * wire.ASSETS_PER_FRAME
    job = server.job(frames)
    with tempfile.TemporaryFile() as out:
        done = run_process(
            command(client, job.ws_url, events, timeout_for(events)),
            timeout=timeout_for(events),
            stdout=out,
            what=f"{client} (check run)",
        )
        out.seek(0)
        lines = out.read().splitlines()
    require(
        done.returncode == 0,
        f"{LABELS[client]} failed (exit {done.returncode}): {done.stderr[-1500:]}",
    )
    if client == RECEIVE:
        got = done.reported().get("events")
        require(got == events, f"{LABELS[client]}: counted {got} events, expected {events}")
        return
    import orjson

    if client == HOLD:
        # A collateral line after each frame (every frame carries BTCUSD and USDTUSD).
        reports = [line for line in lines if line.startswith(b'{"type":"collateral"')]
        require(
            len(reports) == frames and len(lines) == events + frames,
            f"{LABELS[client]}: {len(lines)} lines, {len(reports)} collateral lines for "
            f"{frames} frames of {wire.ASSETS_PER_FRAME}. stderr: {done.stderr[-1500:]}",
        )
        require(
            lines[wire.ASSETS_PER_FRAME] == reports[0] and b'"rate":0.9' in reports[0],
            f"{LABELS[client]}: the first frame's collateral line is not right after it: "
            f"{lines[wire.ASSETS_PER_FRAME][:300]!r}",
        )
        lines = [line for line in lines if not line.startswith(b'{"type":"collateral"')]
    require(
        len(lines) == events,
        f"{LABELS[client]}: wrote {len(lines)} lines for {events} events. stderr: "
        f"{done.stderr[-1500:]}",
    )
    first = orjson.loads(lines[0])
    if client in (BINMON, HOLD):
        require(
            first.get("type") == "asset_index" and first.get("symbol") == wire.ASSETS[0][0],
            f"binmon's first line is not the expected event: {lines[0][:300]!r}",
        )
        # Exact digits, as the exchange sent them (SPEC.md).
        require(
            b'"bid_buffer":0.05000000' in lines[0],
            f"binmon did not keep the exchange's digits: {lines[0][:300]!r}",
        )
    else:
        require(first.get("s") == wire.ASSETS[0][0], f"{client}: unexpected {lines[0][:300]!r}")


def measure(server: BenchServerProcess, client: str, frames: int, runs: Runs) -> None:
    events = frames * wire.ASSETS_PER_FRAME
    job = server.job(frames)
    done = run_process(
        command(client, job.ws_url, events, timeout_for(events)),
        timeout=timeout_for(events),
        what=LABELS[client],
    )
    status = job.status()
    require(
        done.returncode == 0,
        f"{LABELS[client]} failed (exit {done.returncode}): {done.stderr[-1500:]}",
    )
    require(
        status["done"] and status["sent"] == frames and status["first_sent"] is not None,
        f"{LABELS[client]} exited before the server sent every frame: {status}",
    )
    elapsed = done.ended - status["first_sent"]
    if frames == 1:
        runs.fixed.append(elapsed)
        return
    runs.elapsed.append(elapsed)
    runs.stream.append(events / elapsed)
    runs.process.append(events / done.wall)
    own = done.reported()
    if own.get("last_event") and own.get("first_event"):
        runs.internal.append(events / (own["last_event"] - own["first_event"]))


def run(section: Section, frames: int, repeats: int, check_frames: int) -> None:
    check_baselines_importable()
    events = frames * wire.ASSETS_PER_FRAME
    clients = [BINMON, HOLD, NAIVE, STDLIB, SDK, RECEIVE]
    section.say(
        f"{frames:,} frames × {wire.ASSETS_PER_FRAME} assets = {events:,} events per run, "
        f"each frame {len(wire.message(0)):,} bytes; {repeats} runs per client, interleaved "
        f"(the order rotates every round). Figure: events ÷ (client process exit − server's "
        f"first frame written), so start-up and connecting are excluded and the client's "
        f"shutdown is included. The bench server sends pre-encoded frames as fast as the "
        f"socket takes them, then closes."
    )
    section.say()
    results = {c: Runs() for c in clients}
    with BenchServerProcess() as server:
        for client in clients:
            verify(server, client, check_frames)
        section.say(
            f"Check runs passed: every client wrote all {check_frames * 20:,} events "
            "of a short run (binmon with the exchange's exact digits)."
        )
        section.say()
        for round_ in range(repeats):
            order = clients[round_ % len(clients) :] + clients[: round_ % len(clients)]
            for client in order:
                measure(server, client, frames, results[client])
                measure(server, client, 1, results[client])
            figures = ", ".join(f"{c} {results[c].stream[-1]:,.0f}" for c in clients)
            print(f"  round {round_ + 1}/{repeats}: events/s {figures}", flush=True)
    steady = {
        c: (events - wire.ASSETS_PER_FRAME)
        / (median(results[c].elapsed) - median(results[c].fixed))
        for c in clients
    }
    rows = []
    for client in clients:
        r = results[client]
        rows.append(
            [
                LABELS[client],
                spread(r.stream),
                f"{steady[client]:,.0f}",
                f"{median(r.fixed) * 1000:.0f}",
                f"{median(r.process):,.0f}",
                f"{median(r.internal):,.0f}" if r.internal else "—",
            ]
        )
    section.table(
        [
            "client",
            "events/s, first frame → exit: median (min–max)",
            "events/s, steady state (fixed cost removed)",
            "fixed cost ms (1-frame run)",
            "events/s, spawn → exit",
            "events/s, client's own first → last event",
        ],
        rows,
    )
    section.say(
        "Steady state = (events − 20) ÷ (median first-frame→exit of the full runs − median "
        "first-frame→exit of one-frame runs made in the same rounds): the client's fixed "
        "shutdown cost cancels out. The last column is each baseline's own clock (binmon "
        "reports none)."
    )
    section.say()
    med = {c: median(results[c].stream) for c in clients}
    paired = {
        other: [b / o for b, o in zip(results[BINMON].stream, results[other].stream, strict=True)]
        for other in (SDK, NAIVE, STDLIB, RECEIVE)
    }
    held = [h / b for h, b in zip(results[HOLD].stream, results[BINMON].stream, strict=True)]
    section.table(
        ["ratio", "of medians (first frame → exit)", "per round (min–max)", "steady state"],
        [
            [
                f"binmon / {other}",
                f"{med[BINMON] / med[other]:.2f}×",
                spread(paired[other], "{:.2f}"),
                f"{steady[BINMON] / steady[other]:.2f}×",
            ]
            for other in (SDK, NAIVE, STDLIB, RECEIVE)
        ]
        + [
            [
                "binmon --hold / binmon",
                f"{med[HOLD] / med[BINMON]:.2f}×",
                spread(held, "{:.2f}"),
                f"{steady[HOLD] / steady[BINMON]:.2f}×",
            ]
        ],
    )
    section.figures["binmon_eps"] = med[BINMON]
    section.figures["binmon_steady_eps"] = steady[BINMON]
    sdk_ratio, naive_ratio = med[BINMON] / med[SDK], med[BINMON] / med[NAIVE]
    section.check(
        "binmon / SDK, events/s (first frame → exit)",
        f"{sdk_ratio:.2f}× (steady state {steady[BINMON] / steady[SDK]:.2f}×)",
        "≥ 10×",
        sdk_ratio >= 10,
    )
    hold_ratio = med[HOLD] / med[BINMON]
    section.check(
        "binmon --hold BTC=1 --hold USDT=-1000 / plain, events/s (first frame → exit)",
        f"{hold_ratio:.2f}× (per round {spread(held, '{:.2f}')}; steady state "
        f"{steady[HOLD] / steady[BINMON]:.2f}×)",
        "≥ 0.9×",
        hold_ratio >= 0.9,
    )
    section.check(
        "binmon / naive, events/s (first frame → exit)",
        f"{naive_ratio:.2f}× (steady state {steady[BINMON] / steady[NAIVE]:.2f}×)",
        "≥ 1.0×",
        naive_ratio >= 1.0,
    )
