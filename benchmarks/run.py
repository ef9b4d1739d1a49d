#!/usr/bin/env python3
"""binmon's benchmarks (``make bench``): run them, print the figures, write RESULTS.md.

Sections (``--only a,b``): throughput, replay, startup, view, memory, hotpath, metrics.
``--quick`` is a smoke run with small sizes that writes to benchmarks/.work/
instead of benchmarks/RESULTS.md. Exit status: 0 when every section ran
(targets missed are reported as FAIL, and only fail the run with --strict),
1 when a section could not run as designed (a baseline not importable, a
client that failed): a figure is never reported from a broken run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (``python benchmarks/run.py``): make ``benchmarks`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import alerts, hotpath, memory, metrics, replay, startup, throughput, view
from benchmarks.harness import (
    CHILD_ENV_REMOVED,
    ROOT,
    WORK,
    BenchError,
    Section,
    git_revision,
    machine,
)

SECTIONS = ("throughput", "replay", "startup", "view", "memory", "hotpath", "metrics", "alerts")
TITLES = {
    "throughput": "1. Live JSON-lines throughput",
    "replay": "2. Replay of a one-day recording",
    "startup": "3. Start-up",
    "view": "4. Live view",
    "memory": "5. Memory",
    "hotpath": "6. Hot-path profile (in-process)",
    "metrics": "7. Metrics (Prometheus)",
    "alerts": "8. Alerts",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--only", help=f"comma-separated sections, of: {','.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    p.add_argument("--frames", type=int, help="frames per throughput run (default 20000)")
    p.add_argument("--repeats", type=int, help="throughput runs per client (default 7)")
    p.add_argument("--replay-frames", type=int, help="frames in the recording (default 86400)")
    p.add_argument("--replay-runs", type=int, help="replay runs (default 3)")
    p.add_argument("--startup-runs", type=int, help="runs per start-up command (default 10)")
    p.add_argument("--render-runs", type=int, help="refreshes per render case (default 60)")
    p.add_argument(
        "--paint-seconds", type=float, help="flood of the live view, seconds (default 4)"
    )
    p.add_argument(
        "--view-seconds", type=float, help="CPU sample of binmon watch, seconds (default 60)"
    )
    p.add_argument("--memory-events", type=int, help="events of the memory run (default 1M)")
    p.add_argument(
        "--memory-first", type=int, help="first memory checkpoint, events (default 100k)"
    )
    p.add_argument("--scrapes", type=int, help="/metrics scrapes timed (default 200)")
    p.add_argument(
        "--lag-seconds", type=float, help="seconds per lag run, scraped or not (default 10)"
    )
    p.add_argument("--lag-rounds", type=int, help="rounds of the two lag runs (default 8)")
    p.add_argument("--results", type=Path, help="where to write the markdown results")
    p.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "frames": 1000 if quick else 20_000,
        "repeats": 3 if quick else 7,
        "replay_frames": 3600 if quick else 86_400,
        "replay_runs": 1 if quick else 3,
        "startup_runs": 3 if quick else 10,
        "render_runs": 10 if quick else 60,
        "paint_seconds": 2.0 if quick else 4.0,
        "view_seconds": 5.0 if quick else 60.0,
        "memory_events": 100_000 if quick else 1_000_000,
        "memory_first": 20_000 if quick else 100_000,
        "scrapes": 30 if quick else 200,
        "lag_seconds": 3.0 if quick else 10.0,
        "lag_rounds": 2 if quick else 8,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.results is None:
        args.results = WORK / "RESULTS-quick.md" if quick else ROOT / "benchmarks" / "RESULTS.md"
    chosen = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in chosen]
    return args


def runners(
    args: argparse.Namespace, done: dict[str, Section]
) -> dict[str, Callable[[Section], None]]:
    def live_eps() -> float | None:
        section = done.get("throughput")
        return None if section is None else section.figures.get("binmon_eps")

    def view_section(section: Section) -> None:
        missing = view.view_missing()
        if missing:
            section.skipped = missing
            section.say(f"**{missing}** (the lead will re-run)")
        else:
            section.say("#### One refresh")
            section.say()
            view.render(section, args.render_runs)
            section.say()
            section.say("#### Paints under a flood of data")
            section.say()
            view.paint_rate(section, args.paint_seconds)
            section.say()
        missing_serve = view.serve_missing()
        if missing_serve:
            section.say(f"**{missing_serve}**")
            section.skipped = (section.skipped + "; " if section.skipped else "") + missing_serve
        else:
            section.say("#### A `/` filter's Enter to the repainted screen")
            section.say()
            view.filter_latency(section, 5 if args.quick else 20)
            section.say()
            section.say("#### `binmon watch` CPU")
            section.say()
            view.watch_cpu(section, args.view_seconds)

    return {
        "throughput": lambda s: throughput.run(s, args.frames, args.repeats, min(500, args.frames)),
        "replay": lambda s: replay.run(s, args.replay_frames, args.replay_runs, live_eps()),
        "startup": lambda s: startup.run(s, args.startup_runs),
        "view": view_section,
        "memory": lambda s: memory.run(s, args.memory_first, args.memory_events),
        "hotpath": lambda s: hotpath.run(s, spy_frames=2000 if args.quick else 40_000),
        "metrics": lambda s: metrics.run(s, args.scrapes, args.lag_seconds, args.lag_rounds),
        "alerts": lambda s: alerts.run(s, 1 if args.quick else 9),
    }


def markdown(
    args: argparse.Namespace,
    argv: list[str],
    sections: list[Section],
    started: dt.datetime,
    seconds: float,
) -> str:
    info = machine()
    command = "python benchmarks/run.py" + (" " + shlex.join(argv) if argv else "")
    out = [
        "# binmon benchmarks",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC (took {seconds / 60:.1f} min)",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, {info['os']} "
        "(shared and noisy: figures are medians of repeated, interleaved runs, and ratios "
        "compare runs of the same invocation)",
        f"- Python: {info['python']} ({sys.executable})",
        f"- binmon: git {git_revision()}",
        f"- Command: `{command}` (`make bench` runs `python benchmarks/run.py`)",
        f"- Child processes run with {' and '.join(CHILD_ENV_REMOVED)} removed from their "
        "environment, as a user's shell has it: bytecode cached, stdout block-buffered.",
        "- How the figures got where they are, step by step (hand-written, never "
        "overwritten by a run): [HISTORY.md](HISTORY.md)",
        "",
        "## Summary",
        "",
        "| section | figure | target | result |",
        "| --- | --- | --- | --- |",
    ]
    for s in sections:
        if s.error:
            out.append(f"| {s.title} | could not run: {s.error.splitlines()[0][:200]} | | ERROR |")
        for c in s.checks:
            out.append(f"| {s.title} | {c.name}: {c.shown} | {c.target} | {c.verdict} |")
        if s.skipped:
            out.append(f"| {s.title} | {s.skipped} | | SKIPPED |")
    out.append("")
    for s in sections:
        out += [f"## {s.title}", "", *s.lines, ""]
        if s.error:
            out += ["**ERROR**: the section could not run:", "", "```", s.error, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    # Started in the background (`nohup make bench &`), this process would have
    # inherited SIGINT ignored and handed that on to every binmon it starts,
    # which then outlive the Ctrl-C the view and memory sections send: a
    # handler of our own is reset to the default in each child instead.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    done: dict[str, Section] = {}
    table = runners(args, done)
    for key in args.sections:
        section = Section(key, TITLES[key])
        print(f"\n=== {section.title} ===", flush=True)
        try:
            table[key](section)
        except BenchError as exc:
            section.error = str(exc)
            print(f"\nERROR in {section.title}: {exc}", file=sys.stderr, flush=True)
        except Exception:
            section.error = traceback.format_exc()
            print(f"\nERROR in {section.title}:\n{section.error}", file=sys.stderr, flush=True)
        done[key] = section
    sections = list(done.values())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        markdown(args, argv, sections, started, time.monotonic() - clock), encoding="utf-8"
    )
    print("\n=== Summary ===")
    for s in sections:
        if s.error:
            print(f"ERROR    {s.title}: {s.error.splitlines()[0]}")
        for c in s.checks:
            print(f"{c.verdict:<8} {s.title}: {c.name}: {c.shown} (target {c.target})")
        if s.skipped:
            print(f"SKIPPED  {s.title}: {s.skipped}")
    print(f"\nResults written to {args.results}")
    if any(s.error for s in sections):
        print("FAILED: a benchmark could not run; see the errors above.", file=sys.stderr)
        return 1
    if args.strict and any(c.ok is False for s in sections for c in s.checks):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
