"""Section 3: start-up time of ``binmon --help`` and ``binmon --version``."""

from __future__ import annotations

import resource
import subprocess
import sys

from benchmarks.harness import (
    ROOT,
    Section,
    binmon_command,
    child_env,
    median,
    require,
    run_process,
)

TARGET_MS = 80.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _times(cmd: list[str], what: str) -> tuple[float, float]:
    """Wall ms (spawn to exit) and CPU ms (user + system) of one run."""
    cpu = _children_cpu()
    done = run_process(cmd, timeout=30, what=what)
    cpu = _children_cpu() - cpu
    require(done.returncode == 0, f"{what} failed ({done.returncode}): {done.stderr[-800:]}")
    return done.wall * 1000, cpu * 1000


def import_offenders(args: list[str], top: int = 12) -> tuple[list[list[str]], list[list[str]]]:
    """``python -X importtime``: the slowest imports by self time, and top-level by total."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "binmon", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        try:
            own, total = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        name = parts[2].rstrip()
        entries.append((own, total, name.strip(), len(name) - len(name.lstrip())))
    by_self = sorted(entries, key=lambda e: -e[0])[:top]
    top_level = sorted((e for e in entries if e[3] <= 1), key=lambda e: -e[1])[:top]
    return (
        [[name, f"{own / 1000:.1f}", f"{total / 1000:.1f}"] for own, total, name, _ in by_self],
        [[name, f"{total / 1000:.1f}"] for _, total, name, _ in top_level],
    )


def run(section: Section, repeats: int) -> None:
    binmon = binmon_command()
    commands = {
        "binmon --help": [*binmon, "--help"],
        "binmon --version": [*binmon, "--version"],
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
    }
    for what, cmd in commands.items():
        _times(cmd, what)  # warm the page cache and .pyc files
    samples: dict[str, list[float]] = {what: [] for what in commands}
    cpu: dict[str, list[float]] = {what: [] for what in commands}
    for _ in range(repeats):
        for what, cmd in commands.items():
            wall_ms, cpu_ms = _times(cmd, what)
            samples[what].append(wall_ms)
            cpu[what].append(cpu_ms)
    section.say(
        f"`{' '.join(binmon)}`, {repeats} runs each, interleaved, after one warm-up run; "
        "wall time from spawn to exit (the target), and the child's CPU time (user + system, "
        "from getrusage), which a busy machine disturbs less."
    )
    section.say()
    section.table(
        ["command", "wall median ms", "wall min–max ms", "CPU median ms"],
        [
            [what, f"{median(v):.1f}", f"{min(v):.1f}–{max(v):.1f}", f"{median(cpu[what]):.1f}"]
            for what, v in samples.items()
        ],
    )
    worst = 0.0
    for what in ("binmon --help", "binmon --version"):
        ms = median(samples[what])
        worst = max(worst, ms)
        section.check(what, f"{ms:.1f} ms", f"≤ {TARGET_MS:.0f} ms", ms <= TARGET_MS)
    if worst > TARGET_MS:
        by_self, top_level = import_offenders(["--help"])
        section.say()
        section.say("`python -X importtime -m binmon --help`, slowest imports by own time:")
        section.say()
        section.table(["module", "self ms", "cumulative ms"], by_self)
        section.say("Top-level imports by cumulative time:")
        section.say()
        section.table(["module", "cumulative ms"], top_level)
