"""Section 2: replaying a one-day recording (``binmon assets --from FILE --json``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import frames as wire
from benchmarks.harness import (
    Section,
    binmon_command,
    median,
    require,
    run_process,
    spread,
    work_dir,
)


def write_recording(path: Path, frames: int) -> None:
    with open(path, "wb", buffering=1 << 20) as f:
        f.writelines(wire.recording_lines(frames))


def verify(directory: Path) -> None:
    """binmon must replay every event of a small file."""
    frames = 200
    path = directory / "check.jsonl"
    write_recording(path, frames)
    with tempfile.TemporaryFile() as out:
        done = run_process(
            [*binmon_command(), "assets", "--from", str(path), "--json"],
            timeout=60,
            stdout=out,
            what="binmon replay (check run)",
        )
        out.seek(0)
        lines = out.read().splitlines()
    expected = frames * wire.ASSETS_PER_FRAME
    require(done.returncode == 0, f"binmon replay failed ({done.returncode}): {done.stderr}")
    require(
        len(lines) == expected,
        f"binmon replayed {len(lines)} of {expected} events: {done.stderr[-1500:]}",
    )


def run(section: Section, frames: int, repeats: int, live_eps: float | None) -> None:
    events = frames * wire.ASSETS_PER_FRAME
    with work_dir() as directory:
        verify(directory)
        path = directory / "day.jsonl"
        started = time.monotonic()
        write_recording(path, frames)
        size = path.stat().st_size
        section.say(
            f"Recording: {frames:,} frames × {wire.ASSETS_PER_FRAME} assets = {events:,} events "
            f"(one day at one frame a second), {size / 1e6:,.0f} MB, plain JSON lines, not gzip: "
            f"gzip would measure zlib as much as binmon (written in "
            f"{time.monotonic() - started:.1f}s to a scratch directory under benchmarks/.work/, "
            f"removed afterwards). Figures: events ÷ wall time of the whole process (spawn → "
            f"exit, start-up included), and, like for like with the live figure (which "
            f"starts at the first frame), events ÷ (that wall time − the wall time of the "
            f"same command on an empty recording, measured in the same run); stdout to "
            f"/dev/null; {repeats} runs, interleaved."
        )
        section.say()
        empty = directory / "empty.jsonl"
        empty.write_bytes(b"")
        rates = []
        walls = []
        fixed = []
        net_rates = []
        for n in range(repeats):
            # The command's fixed cost (interpreter, imports, loop, exit).
            idle = run_process(
                [*binmon_command(), "assets", "--from", str(empty), "--json"],
                timeout=60,
                what="binmon replay of an empty file",
            )
            require(idle.returncode == 0, f"empty replay failed ({idle.returncode})")
            fixed.append(idle.wall)
            done = run_process(
                [*binmon_command(), "assets", "--from", str(path), "--json"],
                timeout=60 + events / 10_000,
                what="binmon replay",
            )
            require(
                done.returncode == 0, f"binmon replay failed ({done.returncode}): {done.stderr}"
            )
            rates.append(events / done.wall)
            walls.append(done.wall)
            net_rates.append(events / max(done.wall - idle.wall, 1e-9))
            print(
                f"  replay run {n + 1}/{repeats}: {rates[-1]:,.0f} events/s "
                f"({net_rates[-1]:,.0f} without the {idle.wall * 1000:.0f} ms fixed cost)",
                flush=True,
            )
    eps = median(net_rates)
    section.table(
        ["binmon assets --from day.jsonl --json", "events/s: median (min–max)", "seconds (median)"],
        [
            ["replay, whole process (start-up included)", spread(rates), f"{median(walls):.2f}"],
            [
                "replay, without the fixed cost (empty-file run)",
                spread(net_rates),
                f"{median(walls) - median(fixed):.2f}",
            ],
        ],
    )
    section.figures["replay_eps"] = eps
    section.figures["replay_eps_whole_process"] = median(rates)
    if live_eps is None:
        section.check(
            "replay events/s ≥ live events/s",
            f"{eps:,.0f} events/s (live figure not measured in this run)",
            "≥ live",
            None,
        )
    else:
        section.check(
            "replay events/s ≥ live events/s",
            f"{eps:,.0f} vs live {live_eps:,.0f} events/s ({eps / live_eps:.2f}×; whole "
            f"process {median(rates) / live_eps:.2f}×)",
            "≥ 1.0× live",
            eps >= live_eps,
        )
