"""Section 5: resident memory of ``binmon assets --json`` after 100 k and after 1 M events."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import threading

from benchmarks import frames as wire
from benchmarks.harness import (
    ROOT,
    BenchError,
    BenchServerProcess,
    Section,
    binmon_command,
    child_env,
    memory_kb,
    require,
    stop_process,
    wait_idle,
)

TARGET_MB = 60.0
GROWTH_LIMIT = 0.05


def run(section: Section, first_events: int, total_events: int) -> None:
    per = wire.ASSETS_PER_FRAME
    first_frames, frames = first_events // per, total_events // per
    require(0 < first_frames < frames, "--memory-events must exceed the first checkpoint")
    section.say(
        f"`binmon assets --json` (stdout to /dev/null) fed {frames:,} frames by the bench server, "
        f"which pauses after {first_frames:,} frames ({first_frames * per:,} events) and after "
        f"the last ({frames * per:,} events, connection left open). At each pause, once binmon "
        "has used no CPU for 0.5 s (it has caught up), VmRSS is read from /proc/<pid>/status; "
        "VmRSS is also sampled every 50 ms throughout."
    )
    section.say()
    with BenchServerProcess() as server, tempfile.TemporaryFile() as err:
        job = server.job(frames, pauses=[first_frames], preencode=False, close=False)
        proc = subprocess.Popen(
            [*binmon_command(), "assets", "--json", "--ws-url", job.ws_url, "--stale-after", "120"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=child_env(),
        )
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                try:
                    peak[0] = max(peak[0], memory_kb(proc.pid)["VmRSS"])
                except (OSError, KeyError):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            job.wait("paused_at", timeout=120)
            wait_idle(proc.pid)
            at_first = memory_kb(proc.pid)
            job.resume()
            job.wait("done", timeout=60 + total_events / 20_000)
            wait_idle(proc.pid, timeout=120)
            at_end = memory_kb(proc.pid)
            require(proc.poll() is None, f"binmon exited early ({proc.returncode})")
        except BenchError:
            err.seek(0)
            raise BenchError(
                f"memory run failed; binmon's stderr: {err.read().decode()[-1500:]}"
            ) from None
        finally:
            stop.set()
            sampler.join()
            code = stop_process(proc, signal.SIGINT)
        if code not in (0, 130, -signal.SIGINT):
            err.seek(0)
            raise BenchError(f"binmon exited {code} on Ctrl-C: {err.read().decode()[-1500:]}")
    first_mb, end_mb = at_first["VmRSS"] / 1024, at_end["VmRSS"] / 1024
    growth = (end_mb - first_mb) / first_mb
    section.table(
        ["after", "VmRSS MB", "VmHWM (peak) MB"],
        [
            [
                f"{first_frames * per:,} events",
                f"{first_mb:.1f}",
                f"{at_first['VmHWM'] / 1024:.1f}",
            ],
            [f"{frames * per:,} events", f"{end_mb:.1f}", f"{at_end['VmHWM'] / 1024:.1f}"],
        ],
    )
    section.say(f"Largest VmRSS sampled during the run: {peak[0] / 1024:.1f} MB.")
    section.say()
    section.check(
        f"VmRSS after {frames * per:,} events",
        f"{end_mb:.1f} MB",
        f"≤ {TARGET_MB:.0f} MB",
        end_mb <= TARGET_MB,
    )
    section.check(
        f"growth {first_frames * per:,} → {frames * per:,} events",
        f"{growth * 100:+.1f} %",
        f"≤ {GROWTH_LIMIT * 100:.0f} %",
        growth <= GROWTH_LIMIT,
    )
