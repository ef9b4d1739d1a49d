"""``--exec CMD``: run a command for each alert, without ever holding up the streams.

Each alert's JSON line goes to ``sh -c CMD`` on its standard input, with
``BINMON_ALERT_KIND``, ``BINMON_ALERT_SYMBOL`` and ``BINMON_ALERT_MESSAGE``
in its environment. At most ``max_running`` commands run at once; the rest
wait in a bounded queue, and an alert that finds the queue full is counted
and reported instead of waiting (the streams never wait for a command). A
command still running after ``timeout`` seconds is ended with its whole
process group. Failures go to stderr through :class:`Diagnostics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from binmon.alerts import Alert
from binmon.defaults import EXEC_MAX_RUNNING, EXEC_TIMEOUT
from binmon.diag import Diagnostics, printable
from binmon.jsonl import encode_line

MAX_RUNNING: Final = EXEC_MAX_RUNNING
TIMEOUT: Final = EXEC_TIMEOUT
# Alerts are rare; a queue this deep only fills when a burst meets a slow command.
QUEUE_LIMIT: Final = 256
# What is kept of a command's stderr to say why it failed.
_STDERR_TAIL: Final = 2048
# A command that exited may have left a child holding its stderr open.
_STDERR_GRACE: Final = 0.2
SHELL: Final = "/bin/sh"
_INF: Final = float("inf")


@dataclass
class ExecCounts:
    run: int = 0
    failed: int = 0
    timed_out: int = 0
    dropped: int = 0
    # Still waiting when binmon stopped: never started.
    not_run: int = 0
    # Still running when binmon stopped (and counted in ``run``): ended.
    ended: int = 0


class AlertExec:
    """Runs ``command`` per alert on the running event loop's own subprocess support."""

    def __init__(
        self,
        command: str,
        diag: Diagnostics,
        *,
        max_running: int = MAX_RUNNING,
        timeout: float = TIMEOUT,
        queue_limit: int = QUEUE_LIMIT,
        on_start: Callable[[Alert], None] | None = None,
    ) -> None:
        self.command = command
        self.diag = diag
        self.max_running = max_running
        self.timeout = timeout
        self.counts = ExecCounts()
        # Called as each command starts (the benchmark measures latency with it).
        self.on_start = on_start
        # Room for the alerts about to be taken by idle workers, and the waiting ones.
        self._queue: asyncio.Queue[Alert | None] = asyncio.Queue(max_running + queue_limit)
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.subprocess.Process] = {}
        # Taken from the queue by a worker and not finished.
        self._taken = 0
        self._closing = False
        self._env = dict(os.environ)

    # -- from the streams ----------------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Queue ``alert``; never waits. Call on the event loop's thread."""
        if self._closing:
            self.counts.not_run += 1
            return
        if not self._workers:
            self._workers = [
                asyncio.get_running_loop().create_task(self._work())
                for _ in range(self.max_running)
            ]
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.counts.dropped += 1
            self.diag.warn(
                f"--exec: {self.max_running} commands running and "
                f"{self._queue.qsize() - self.max_running} alerts waiting; an alert that "
                f"could not wait was dropped ({self.counts.dropped} so far)",
                key="exec-dropped",
            )

    @property
    def pending(self) -> int:
        """Alerts waiting or being run."""
        return self._queue.qsize() + self._taken

    # -- ending --------------------------------------------------------------

    async def close(self, grace: float | None = None) -> None:
        """Run what is queued, waiting at most ``grace`` seconds (None: until done).

        Then what still waits is not run, and what still runs is ended with
        its process group; both are counted and reported.
        """
        if self._workers and self.pending:
            loop = asyncio.get_running_loop()
            deadline = _INF if grace is None else loop.time() + grace
            # A wait longer than a moment is said, so that an exit that takes
            # a while does not look like a hang.
            if not await self._drained(min(deadline, loop.time() + 1.0)) and (
                loop.time() < deadline
            ):
                self.diag.info(f"--exec: waiting for {self.pending} alert command(s) to finish")
                await self._drained(deadline)
        self._closing = True
        while not self._queue.empty():
            if self._queue.get_nowait() is not None:
                self.counts.not_run += 1
            self._queue.task_done()
        for process in list(self._running.values()):
            _kill_group(process)
        # Workers end by themselves (a process killed above is waited for, so
        # none is left unreaped): cancelling them mid-start could lose a process.
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers)
        self._workers = []
        self._report()

    async def _drained(self, deadline: float) -> bool:
        """Wait until nothing is queued or running, or ``deadline``; True if drained."""
        joined = asyncio.ensure_future(self._queue.join())
        timeout = None
        if deadline != _INF:
            timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait({joined}, timeout=timeout)
        joined.cancel()
        return bool(done)

    def _report(self) -> None:
        c = self.counts
        if c.failed or c.dropped or c.not_run or c.ended:
            self.diag.info(
                f"--exec: {c.run} alert command(s) run, {c.failed} failed "
                f"({c.timed_out} timed out), {c.ended} ended unfinished at exit; "
                f"{c.dropped} alert(s) dropped because too many were waiting, "
                f"{c.not_run} not run at exit"
            )

    # -- running ---------------------------------------------------------------

    async def _work(self) -> None:
        while (alert := await self._queue.get()) is not None:
            self._taken += 1
            try:
                if self._closing:
                    self.counts.not_run += 1
                else:
                    await self._run(alert)
            finally:
                self._taken -= 1
                self._queue.task_done()
        self._queue.task_done()

    async def _run(self, alert: Alert) -> None:
        env = dict(self._env)
        env["BINMON_ALERT_KIND"] = alert.kind
        env["BINMON_ALERT_SYMBOL"] = alert.symbol or ""
        env["BINMON_ALERT_MESSAGE"] = alert.message
        try:
            process = await asyncio.create_subprocess_exec(
                SHELL,
                "-c",
                self.command,
                stdin=asyncio.subprocess.PIPE,
                # Our stdout carries JSON lines and our terminal may hold the
                # tables: the command's output must not land in either.
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                # Its own process group, so that a timeout ends everything it started.
                start_new_session=True,
            )
        except OSError as exc:
            self._failed(alert, f"could not be started: {exc.strerror or exc}", "exec-start")
            return
        self.counts.run += 1
        if self.on_start is not None:
            self.on_start(alert)
        self._running[process.pid] = process
        if self._closing:  # started while binmon was stopping
            _kill_group(process)
        assert process.stderr is not None
        tail = asyncio.ensure_future(_tail(process.stderr))
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    await _write_stdin(process, encode_line(alert))
                    code = await process.wait()
            except TimeoutError:
                _kill_group(process)
                await process.wait()
                self.counts.timed_out += 1
                self._failed(
                    alert, f"was still running after {self.timeout:g}s and was ended", "exec-slow"
                )
                return
        finally:
            del self._running[process.pid]
            # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow
            # a cancellation that arrives as the awaited task finishes.
            await asyncio.wait({tail}, timeout=_STDERR_GRACE)
            tail.cancel()
        if self._closing and code < 0:
            self.counts.ended += 1
            return
        if code == 0:
            return
        said = tail.result() if tail.done() and not tail.cancelled() else ""
        why = f": {said}" if said else ""
        if code == 127:
            self._failed(alert, f"exited with status 127 (command not found){why}", "exec-missing")
        elif code < 0:
            self._failed(alert, f"was killed by signal {-code}{why}", "exec-failed")
        else:
            self._failed(alert, f"exited with status {code}{why}", "exec-failed")

    def _failed(self, alert: Alert, what: str, key: str) -> None:
        self.counts.failed += 1
        about = alert.kind if alert.symbol is None else f"{alert.kind} {alert.symbol}"
        self.diag.warn(f"--exec command for alert {printable(about, 80)} {what}", key=key)


async def _write_stdin(process: asyncio.subprocess.Process, line: bytes) -> None:
    stdin = process.stdin
    assert stdin is not None
    # A command that never reads its input is fine: it has the environment.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(line)
        await stdin.drain()
    stdin.close()


async def _tail(stream: asyncio.StreamReader) -> str:
    """The last line a command wrote to stderr, printable."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-_STDERR_TAIL:]
    lines = [line for line in kept.decode(errors="replace").splitlines() if line.strip()]
    return printable(lines[-1].strip(), 200) if lines else ""


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
