"""Section 6: where binmon's live hot path spends its time (in-process, no sockets).

Each stage runs over the same pre-encoded frames the throughput section sends;
figures are the median of several passes, in nanoseconds per event.
Then cProfile of ``Feed.message`` (decode, dedupe, sink, write, flush).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import frames as wire
from benchmarks.harness import (
    BenchError,
    BenchServerProcess,
    Section,
    binmon_command,
    median,
    require,
    run_process,
    work_dir,
)


def _interleaved(
    stages: Sequence[tuple[str, Callable[[], object]]], events: int, passes: int
) -> list[tuple[str, float]]:
    """ns/event of each stage: median of ``passes``, stages interleaved, one warm-up pass."""
    times: dict[str, list[float]] = {name: [] for name, _ in stages}
    for n in range(passes + 1):
        for name, work in stages:
            started = time.perf_counter()
            work()
            if n:
                times[name].append(time.perf_counter() - started)
    return [(name, median(times[name]) / events * 1e9) for name, _ in stages]


def run(section: Section, frames: int = 2000, passes: int = 7, spy_frames: int = 40_000) -> None:
    try:
        import orjson
    except ImportError:
        raise BenchError("the naive stage needs orjson: pip install -e '.[dev,bench]'") from None

    from binmon import protocol
    from binmon.collateral import Collateral, parse_holds
    from binmon.consumer import Fanout
    from binmon.diag import Diagnostics
    from binmon.feed import Feed
    from binmon.jsonl import encode_assets
    from binmon.sinks import JsonLinesSink
    from binmon.status import StreamStatus
    from binmon.valuation import attach

    messages = wire.messages(frames)
    events = frames * wire.ASSETS_PER_FRAME
    decoded = [protocol.decode_message(m) for m in messages]
    assert all(len(f.events) == wire.ASSETS_PER_FRAME and not f.malformed for f in decoded)
    asset_lists = [f.events for f in decoded]
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    envelope = protocol._ENVELOPE  # the typed msgspec decoder decode_message uses
    loads, dumps = orjson.loads, orjson.dumps

    def naive() -> None:
        write = devnull.write
        for m in messages:
            for e in loads(m)["data"]:
                write(dumps(e) + b"\n")
            devnull.flush()

    def msgspec_typed() -> None:
        for m in messages:
            envelope.decode(m)

    def validate() -> None:
        for a in asset_lists:
            protocol.asset_decimals_valid(a)  # type: ignore[arg-type]

    def decode() -> None:
        for m in messages:
            protocol.decode_message(m)

    def encode() -> None:
        for a in asset_lists:
            encode_assets(a)  # type: ignore[arg-type]

    encoded = [encode_assets(a) for a in asset_lists]  # type: ignore[arg-type]

    def write_flush() -> None:
        for chunk in encoded:
            devnull.write(chunk)
            devnull.flush()

    def feed_pass() -> None:
        feed = Feed(JsonLinesSink(devnull), Diagnostics(io.StringIO()))
        status = StreamStatus("asset index")
        message = feed.message
        for m in messages:
            message(m, status)
        assert feed.events_written == events, feed.events_written

    def feed_hold_pass() -> None:
        # As the runner wires it for `assets --json --hold BTC=1 --hold USDT=-1000`.
        diag = Diagnostics(io.StringIO())
        outputs = Fanout([JsonLinesSink(devnull)])
        holdings = parse_holds(["BTC=1", "USDT=-1000"])
        encoders = attach(Collateral(holdings), outputs, diag)
        feed = Feed(outputs, diag, encoders=encoders)
        status = StreamStatus("asset index")
        message = feed.message
        for m in messages:
            message(m, status)
        assert feed.events_written == events, feed.events_written

    stages = [
        ("orjson.loads/frame + orjson.dumps/event + write (the naive client's work)", naive),
        ("msgspec typed decode of the envelope (`_ENVELOPE.decode`)", msgspec_typed),
        ("decimal validation (`asset_decimals_valid`)", validate),
        ("`decode_message` (= typed decode + validation + Frame)", decode),
        ("`encode_assets` (JSON lines for one frame)", encode),
        ("write + flush per frame to /dev/null", write_flush),
        ("`Feed.message` end to end (decode, dedupe, encode, write, flush)", feed_pass),
        (
            "the same with `--hold BTC=1 --hold USDT=-1000` (a collateral line per frame)",
            feed_hold_pass,
        ),
    ]
    results = _interleaved(stages, events, passes)
    held = results.pop()[1]
    total = results[-1][1]
    section.say(
        f"In-process, {frames:,} frames ({events:,} events) per pass, median of {passes} passes "
        "(stages interleaved, after a warm-up pass)."
    )
    section.say()
    section.table(
        ["stage", "ns/event", "events/s", "share of Feed.message"],
        [
            [name, f"{ns:,.0f}", f"{1e9 / ns:,.0f}", "—" if i == 0 else f"{ns / total:.0%}"]
            for i, (name, ns) in enumerate(results)
        ],
    )
    section.say(
        f"With two holdings (`Feed` → JSON writer + collateral consumer, as the runner wires "
        f"them): {held:,.0f} ns/event against {total:,.0f} plain, a throughput ratio of "
        f"{total / held:.2f}×."
    )
    section.say()
    section.figures["feed_hold_ns_per_event"] = held
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        feed_pass()
    profiler.disable()
    devnull.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(14)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    section.say("cProfile of `Feed.message` (3 passes), by own time:")
    section.say()
    section.say("```")
    for line in lines[start:]:
        section.say(line.rstrip())
    section.say("```")
    section.say()
    section.figures["feed_ns_per_event"] = total
    if spy_frames:
        py_spy(section, spy_frames)


# --- py-spy on a real run --------------------------------------------------------------

INTERESTING = (
    ("BaseEventLoop._run_once", "the event loop, all of it (= 100 %)"),
    ("_SelectorSocketTransport._read_ready", "socket reads + aiohttp's WebSocket parser (C)"),
    ("ClientWebSocketResponse.receive", "aiohttp `ws.receive()`"),
    ("Connection._read", "binmon's read loop"),
    ("StreamStatus.message", "per-message health bookkeeping"),
    ("Feed.message", "Feed.message"),
    ("decode_message", "decode_message"),
    ("asset_decimals_valid", "decimal validation"),
    ("Feed._assets", "Feed._assets (dedupe + sink)"),
    ("encode_assets", "encode_assets"),
    ("BufferedWriter.flush", "flush"),
)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit('/', 1)[-1].split(':')[0]})"


def py_spy(section: Section, frames: int) -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("py-spy", path=search)
    section.say("#### py-spy on a live run")
    section.say()
    if exe is None:
        section.say("py-spy is not installed (`pip install py-spy`): no sampling profile.")
        section.say()
        return
    events = frames * wire.ASSETS_PER_FRAME
    with BenchServerProcess() as server, work_dir() as directory:
        job = server.job(frames)
        out = directory / "py-spy.txt"
        done = run_process(
            [
                *(exe, "record", "--rate", "1000", "--format", "raw", "--output", str(out), "--"),
                *(*binmon_command(), "assets", "--json", "--ws-url", job.ws_url, "-n", str(events)),
            ],
            timeout=120 + events / 20_000,
            what="py-spy record binmon",
        )
        if done.returncode != 0 or not out.exists():
            section.say(f"py-spy could not profile (exit {done.returncode}): {done.stderr[-300:]}")
            section.say()
            return
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        loop = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "BaseEventLoop._run_once" not in stack:
                continue  # start-up imports, idle threads
            n = int(count)
            loop += n
            names = stack.split(";")
            own[_short(names[-1])] += n
            for name in {f.partition(" (")[0] for f in names}:
                inclusive[name] += n
    require(loop > 0, "py-spy recorded no sample inside binmon's event loop")
    section.say(
        f"`py-spy record --rate 1000` of `binmon assets --json -n {events:,}` against the bench "
        f"server; {loop:,} samples inside the event loop (start-up excluded)."
    )
    section.say()
    section.table(
        ["function (inclusive)", "what", "share of event-loop samples"],
        [[f"`{name}`", what, f"{inclusive[name] / loop:.1%}"] for name, what in INTERESTING],
    )
    section.table(
        ["function (own time)", "share"],
        [[f"`{name}`", f"{n / loop:.1%}"] for name, n in own.most_common(12)],
    )
