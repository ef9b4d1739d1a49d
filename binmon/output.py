"""Standard output that never blocks the event loop.

A reader that pauses (``| less``, a slow ``jq``, Ctrl-S in a terminal) must
not freeze binmon: a frozen loop trips its own WebSocket heartbeat, cannot
answer the exchange's pings and falls behind until the exchange drops it as
a slow client, and each of those loses events. So output to a pipe, a
terminal or a socket goes through a bounded buffer that a thread drains;
the streams keep being read while the buffer holds less than ``limit``
bytes, then reading pauses (TCP pushes back on the server) until it is half
empty again. Memory stays bounded and nothing is dropped.

Regular files (``>> changes.jsonl``), ``/dev/null`` and in-memory streams
never block for long and are written directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import select
import stat
import threading
from typing import BinaryIO

# About 40 minutes of both streams at the exchange's real rate.
DEFAULT_LIMIT = 16 * 1024 * 1024


class Output:
    """``write`` hands bytes over and returns at once; ``close`` waits for them."""

    def __init__(
        self, stream: BinaryIO, *, limit: int = DEFAULT_LIMIT, threaded: bool | None = None
    ) -> None:
        self.stream = stream
        self.limit = limit
        fd = _fileno(stream)
        if threaded is None:
            threaded = fd is not None and _may_block(fd)
        self.threaded = threaded and fd is not None
        self.error: BaseException | None = None
        # Most bytes ever waiting at once: what a paused reader cost in memory.
        self.peak = 0
        self._fd = fd if fd is not None else -1
        self._cond = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        # Bytes handed over and not yet written (including those being written).
        self._size = 0
        self._closing = False
        # Futures of the event loop: waiting for room, waiting for a failure.
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._failure_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        if not self.threaded:
            # Straight through, without a call of ours per frame (the hot path).
            self.write = stream.write  # type: ignore[method-assign,assignment]
            self.flush = stream.flush  # type: ignore[method-assign]
        if self.threaded:
            # Anything already buffered by Python goes first; from here on the
            # thread writes to the descriptor itself, so no lock of
            # sys.stdout's buffer is ever held by a thread at exit.
            stream.flush()
            self._thread = threading.Thread(target=self._drain, name="binmon-stdout", daemon=True)
            self._thread.start()

    # -- the event loop's side ----------------------------------------------

    @property
    def backlogged(self) -> bool:
        return self._size > self.limit

    @property
    def pending(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        with self._cond:
            if self.error is not None:
                raise self.error
            self._chunks.append(data)
            self._size += len(data)
            if self._size > self.peak:
                self.peak = self._size
            self._cond.notify()

    def flush(self) -> None:
        """Nothing to do: the thread writes whatever arrives as soon as it can."""

    async def drained(self) -> None:
        """Wait until the buffer is at most half full (or writing failed)."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self.error is not None or self._size <= self.limit // 2:
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            await future

    async def failure(self) -> BaseException:
        """Wait until writing fails (the reader went away); return why."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self.error is not None:
                    return self.error
                future: asyncio.Future[None] = loop.create_future()
                self._failure_waiters.append((loop, future))
            await future

    def close(self, timeout: float | None = None) -> int:
        """Write everything still waiting, then stop the thread.

        With ``timeout``, give the reader that long and then give up: returns
        the bytes left unwritten (the thread, blocked on a reader that never
        reads, dies with the process). Raises the write error (e.g.
        ``BrokenPipeError``) if there was one. The stream itself stays open:
        it is not ours.
        """
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            self._thread.join(timeout)
            if self._thread.is_alive():
                return self._size
            self._thread = None
        if self.error is not None:
            raise self.error
        self.stream.flush()
        return 0

    # -- the thread's side --------------------------------------------------

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._closing:
                    self._cond.wait()
                if not self._chunks:
                    return
                chunks, self._chunks = self._chunks, []
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                _write_all(self._fd, data)
            except (OSError, ValueError) as exc:
                with self._cond:
                    self.error = exc
                    self._chunks = []
                    self._size = 0
                    self._wake(self._waiters)
                    self._wake(self._failure_waiters)
                return
            with self._cond:
                self._size -= len(data)
                if self._waiters and self._size <= self.limit // 2:
                    self._wake(self._waiters)

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        woken = waiters[:]
        waiters.clear()
        for loop, future in woken:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            # Someone else made the descriptor non-blocking: wait for room.
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        view = view[written:]


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _may_block(fd: int) -> bool:
    """Pipes, sockets and terminals wait for a reader; files and /dev/null do not."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISCHR(mode):
        return os.isatty(fd)
    return True
