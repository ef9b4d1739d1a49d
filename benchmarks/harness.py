"""What every benchmark section shares: processes, /proc readings, the bench server, results."""

from __future__ import annotations

import json
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHILD_ENV_REMOVED = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


class BenchError(Exception):
    """A benchmark could not run as designed: the run must fail, never report."""


# --- results ------------------------------------------------------------------


@dataclass
class Check:
    """One figure held against its target; ``ok`` None means not judged."""

    name: str
    shown: str
    target: str
    ok: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.ok]


@dataclass
class Section:
    key: str
    title: str
    lines: list[str] = field(default_factory=list)  # markdown, printed as it comes
    checks: list[Check] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    # Figures other sections may compare against (e.g. the live events/s).
    figures: dict[str, float] = field(default_factory=dict)

    def say(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            self.say("| " + " | ".join(str(c) for c in row) + " |")
        self.say()

    def check(self, name: str, shown: str, target: str, ok: bool | None) -> None:
        c = Check(name, shown, target, ok)
        self.checks.append(c)
        self.say(f"- **{c.verdict}** {name}: {shown} (target {target})")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min–max, n=…)``."""
    return (
        f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))}, "
        f"n={len(values)})"
    )


# --- the machine ------------------------------------------------------------------


def machine() -> dict[str, str]:
    model, cores = "unknown", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    cores += 1
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            memory = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cores": str(cores or os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{' + uncommitted changes' if dirty else ''}" if rev else "unknown"


# --- processes ---------------------------------------------------------------------


def binmon_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m binmon``."""
    script = Path(sys.executable).parent / "binmon"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "binmon"]


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINMON_")}
    env.pop("BINANCE_API_KEY", None)
    env.pop("BINANCE_API_SECRET", None)
    # A user's environment: bytecode cached (pip compiles at install) and
    # stdout buffered (PYTHONUNBUFFERED makes sys.stdout.buffer a raw FileIO,
    # one write(2) per write() call).
    for name in CHILD_ENV_REMOVED:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14, stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM … of a live process, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm"):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def tail(path: Path, limit: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:].strip()


@dataclass
class Finished:
    returncode: int
    started: float  # time.monotonic() just before the process was spawned
    ended: float  # time.monotonic() right after it was reaped
    stderr: str

    @property
    def wall(self) -> float:
        return self.ended - self.started

    def reported(self) -> dict[str, Any]:
        """The JSON line a benchmark client prints last on stderr."""
        for line in reversed(self.stderr.splitlines()):
            if line.startswith("{"):
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    return value
        return {}


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for ``proc`` to exit: ``(returncode, time.monotonic() at exit)``.

    ``Popen.wait(timeout)`` polls with sleeps that grow to 50 ms, which would
    be part of every figure; a pidfd becomes readable the moment the process exits.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: fall back to polling
        returncode = proc.wait(timeout)
        return returncode, time.monotonic()
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        ended = time.monotonic()
        if not ready:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait(), ended


def run_process(
    cmd: Sequence[str],
    *,
    timeout: float,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    what: str,
) -> Finished:
    """Run to completion; stderr is kept (in a file, so it can never block the child)."""
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, env=child_env()
        )
        try:
            returncode, ended = wait_exit(proc, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            err.seek(0)
            raise BenchError(
                f"{what}: still running after {timeout:.0f}s; killed. stderr: "
                f"{err.read().decode(errors='replace')[-1500:]}"
            ) from None
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Finished(returncode, started, ended, stderr)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the server exited ({proc.returncode}) before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], signal_first: int, timeout: float = 10) -> int:
    if proc.poll() is None:
        proc.send_signal(signal_first)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_idle(pid: int, *, quiet_for: float = 0.5, timeout: float = 60.0) -> None:
    """Until the process used no CPU for ``quiet_for`` seconds (it has caught up)."""
    deadline = time.monotonic() + timeout
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
    raise BenchError(f"process {pid} was still busy after {timeout:.0f}s")


# --- the bench server (benchmarks/server.py, in its own process) ------------------


@dataclass
class Job:
    server: BenchServerProcess
    id: str
    frames: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/j/{self.id}"

    def status(self) -> dict[str, Any]:
        return self.server.call("GET", f"/jobs/{self.id}")

    def resume(self) -> None:
        self.server.call("POST", f"/jobs/{self.id}/resume", {})

    def wait(self, condition: str, timeout: float) -> dict[str, Any]:
        """Poll until ``status()[condition]`` is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.get(condition):
                return status
            if time.monotonic() > deadline:
                raise BenchError(f"job {self.id}: no {condition!r} after {timeout:.0f}s: {status}")
            time.sleep(0.05)


class BenchServerProcess:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> BenchServerProcess:
        self.proc = subprocess.Popen(
            python_module("benchmarks.server"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=child_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            self.__exit__()
            raise BenchError(f"the bench server did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the server stops when its stdin closes
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def job(
        self,
        frames: int,
        *,
        pauses: Sequence[int] = (),
        preencode: bool = True,
        close: bool = True,
    ) -> Job:
        spec = {"frames": frames, "pauses": list(pauses), "preencode": preencode, "close": close}
        return Job(self, self.call("POST", "/jobs", spec)["id"], frames)


@contextmanager
def work_dir() -> Iterator[Path]:
    """A scratch directory under ``benchmarks/.work`` (git-ignored), removed afterwards."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
