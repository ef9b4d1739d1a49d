"""Output that never blocks the event loop, on real pipes and files."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from binmon.output import Output
from tests.streaming import read_all


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_reader_that_does_not_read_never_blocks_the_writer(pipe: tuple[int, int]) -> None:
    r, w = pipe
    with os.fdopen(w, "wb", closefd=False) as stream:
        out = Output(stream, limit=1 << 20)
        assert out.threaded
        lines = [b"%08d\n" % n for n in range(300_000)]  # 2.7 MB, 40 times what a pipe holds
        for line in lines:
            out.write(line)  # would hang here if it wrote to the pipe itself
        assert out.backlogged
        assert out.peak >= 2_000_000
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(read_all(r)))
        reader.start()
        out.close()
        os.close(w)
        reader.join(10)
    assert got == [b"".join(lines)]


async def test_drained_waits_for_the_reader_to_make_room(pipe: tuple[int, int]) -> None:
    r, w = pipe
    stream = os.fdopen(w, "wb", closefd=False)
    out = Output(stream, limit=100_000)
    out.write(b"x" * 300_000)
    assert out.backlogged
    waiting = asyncio.create_task(out.drained())
    await asyncio.sleep(0)
    assert not waiting.done()
    received = 0
    while received < 200_000:  # half the limit left or less: room again
        received += len(await asyncio.to_thread(os.read, r, 1 << 16))
    async with asyncio.timeout(10):
        await waiting
    assert not out.backlogged
    reader = asyncio.create_task(asyncio.to_thread(read_all, r))
    out.close()
    os.close(w)
    assert received + len(await reader) == 300_000
    stream.close()


async def test_a_reader_that_goes_away_is_reported_at_once(pipe: tuple[int, int]) -> None:
    r, w = pipe
    stream = os.fdopen(w, "wb", closefd=False)
    out = Output(stream)
    os.close(r)
    out.write(b"line\n")
    async with asyncio.timeout(10):
        error = await out.failure()
    assert isinstance(error, BrokenPipeError)
    with pytest.raises(BrokenPipeError):
        out.write(b"more\n")
    with pytest.raises(BrokenPipeError):
        out.close()
    # Waiting for room must not hang once nobody reads.
    async with asyncio.timeout(10):
        await out.drained()
    stream.close()


def test_files_and_memory_are_written_directly(tmp_path: Path) -> None:
    memory = io.BytesIO()
    out = Output(memory)  # type: ignore[arg-type]
    assert not out.threaded
    out.write(b"a\n")
    assert memory.getvalue() == b"a\n"
    with open(tmp_path / "out.jsonl", "wb") as f:
        out = Output(f)
        assert not out.threaded
        out.write(b"b\n")
        out.flush()
        assert (tmp_path / "out.jsonl").read_bytes() == b"b\n"
    with open(os.devnull, "wb") as null:
        assert not Output(null).threaded


def test_what_python_buffered_before_goes_first(pipe: tuple[int, int]) -> None:
    r, w = pipe
    with os.fdopen(w, "wb", closefd=False) as stream:
        stream.write(b"first\n")  # still in Python's buffer
        out = Output(stream)
        out.write(b"second\n")
        out.close()
        os.close(w)
    assert read_all(r) == b"first\nsecond\n"
