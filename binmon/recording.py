"""Recordings: JSON lines ``{"recv_time":ms,"stream":name,"data":payload}``.

Written gzip-compressed when the name ends in ``.gz``; read plain or gzip
whatever the name (the magic bytes decide), ``-`` meaning stdin. Every reader
of a file binmon is given (``--from``, ``brackets --from``, ``serve --from``)
opens it through :func:`open_input`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, TYPE_CHECKING, cast

import msgspec

from binmon.consumer import Consumer
from binmon.diag import printable
from binmon.errors import BinmonError
from binmon.protocol import is_asset_index_stream, split_envelope
from binmon.state import Contract

if TYPE_CHECKING:
    from binmon.diag import Diagnostics
    from binmon.feed import Feed
    from binmon.output import Output
    from binmon.status import StreamStatus

# Not an exchange stream: the REST contract snapshot a live run started from,
# kept so that a replay computes the same `changes`. Readers that only know
# stream names simply never ask for it.
SNAPSHOT_STREAM = "binmon:exchangeInfo"


class _SnapshotSymbol(msgspec.Struct):
    symbol: str
    pair: str | None = None
    contractType: str | None = None
    status: str | None = None
    deliveryDate: int | None = None
    onboardDate: int | None = None
    market: str | None = None


def snapshot_payload(contracts: list[Contract]) -> bytes:
    symbols = [
        _SnapshotSymbol(
            c.symbol, c.pair, c.contract_type, c.status, c.delivery_time, c.onboard_time, c.market
        )
        for c in contracts
    ]
    return msgspec.json.encode({"symbols": symbols})


def contracts_from_snapshot(data: bytes) -> list[Contract]:
    try:
        decoded = msgspec.json.decode(data, type=dict[str, list[_SnapshotSymbol]])
    except msgspec.DecodeError:
        return []
    return [
        Contract(
            s.symbol, s.pair, s.contractType, s.status, s.deliveryDate, s.onboardDate, s.market
        )
        for s in decoded.get("symbols", [])
    ]


class RecordedFrame(msgspec.Struct, gc=False):
    recv_time: int
    stream: str
    data: msgspec.Raw


_LINE = msgspec.json.Decoder(RecordedFrame)


GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def open_input(path: str, stdin: IO[bytes] | None = None) -> Iterator[IO[bytes]]:
    """A file to read, gunzipped when it is gzip (by its magic bytes, not its name).

    ``-`` is ``stdin`` (the process's binary stdin unless one is given), which
    is never closed here. A file that cannot be opened is a :class:`BinmonError`.
    """
    with contextlib.ExitStack() as stack:
        if path == "-":
            raw = stdin if stdin is not None else sys.stdin.buffer
            if not isinstance(raw, io.BufferedReader | io.BytesIO):
                raw = io.BufferedReader(cast(io.RawIOBase, raw))
        else:
            try:
                raw = stack.enter_context(open(path, "rb"))
            except OSError as exc:
                reason = printable(str(exc.strerror or exc))
                raise BinmonError(f"cannot open {printable(path)}: {reason}") from None
        if _peek(raw, 2) == GZIP_MAGIC:
            yield cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
        else:
            yield raw


def _peek(f: IO[bytes], n: int) -> bytes:
    if isinstance(f, io.BufferedReader):
        return f.peek(n)[:n]
    if isinstance(f, io.BytesIO):
        return f.getvalue()[f.tell() : f.tell() + n]
    return b""


def _open_for_append(path: str) -> IO[bytes]:
    try:
        if path.endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "ab"))
        return open(path, "ab")
    except OSError as exc:
        raise BinmonError(f"cannot open {path}: {exc.strerror or exc}") from None


class Recorder(Consumer):
    """Appends frames as received; flushed per frame so a killed run keeps its data.

    As a consumer it keeps frames, not events: every message the feed
    delivers, bad ones included, and the contract snapshot the run started
    from (so that a replay computes the same ``changes``).
    """

    wants_asset_events = False

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = _open_for_append(path)
        self.frames = 0

    def frame(self, data: bytes | str) -> None:
        envelope = split_envelope(data)
        if envelope is not None:
            self.write(*envelope)

    def contract_snapshot(self, contracts: Sequence[Contract]) -> None:
        self.write(SNAPSHOT_STREAM, snapshot_payload(list(contracts)))

    def write(self, stream: str, data: bytes, recv_ms: int | None = None) -> None:
        if recv_ms is None:
            recv_ms = int(time.time() * 1000)
        stream_json = msgspec.json.encode(stream).decode()
        self.file.write(f'{{"recv_time":{recv_ms},"stream":{stream_json},"data":'.encode())
        if b"\n" in data or b"\r" in data:
            data = msgspec.json.format(data, indent=0)
        self.file.write(data)
        self.file.write(b"}\n")
        self.file.flush()
        self.frames += 1

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


def read_lines(path: str, on_truncated: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """Each complete, non-blank line of a recording, undecoded.

    A recording still being written, or cut off by a crash, ends in a partial
    line (or a gzip stream without its end marker): everything complete is
    replayed and the rest reported, not treated as a failure.
    """
    with open_input(path) as file:
        try:
            for line in file:
                if not line.endswith(b"\n"):
                    if on_truncated is not None and not line.isspace():
                        on_truncated(f"{path}: last line is incomplete; skipped")
                    return
                if not line.isspace():
                    yield line
        except EOFError:
            if on_truncated is not None:
                on_truncated(f"{path}: ends early (still being written, or cut off)")
        except OSError as exc:
            raise BinmonError(f"cannot read {path}: {exc}") from None


def decode_line(line: bytes) -> RecordedFrame | None:
    """A recording line, or ``None`` for one that is not a recorded frame."""
    try:
        return _LINE.decode(line)
    except ValueError:  # msgspec.DecodeError, or a string that is not UTF-8
        return None


async def replay(
    path: str,
    feed: Feed,
    statuses: Mapping[str, StreamStatus],
    *,
    speed: float,
    backlog: Output | None = None,
    diag: Diagnostics,
) -> None:
    """Push a recording's frames through ``feed``, as the network would.

    ``statuses`` holds the streams wanted (by kind); frames of others are
    skipped. ``speed`` 0 is as fast as possible (output flushed per batch of
    lines, not per frame), 1 the recording's own pace. ``backlog``, the
    output in front of a reader, makes a file be read no faster than it is
    consumed.
    """
    from binmon.run_config import ASSETS, CONTRACTS

    loop = asyncio.get_running_loop()
    started = loop.time()
    first_recv: int | None = None
    bad = 0
    payload = feed.payload
    asset_status = statuses.get(ASSETS)
    # As fast as possible, whole asset lines may skip decoding altogether.
    fast = speed == 0 and asset_status is not None
    if speed == 0:
        feed.batch()
    lines = read_lines(path, diag.info)
    while chunk := list(islice(lines, 256)):
        if speed == 0:
            feed.out.flush()
        if backlog is not None and backlog.backlogged:
            await backlog.drained()
        await asyncio.sleep(0)  # let the view and signals breathe
        i, end = 0, len(chunk)
        while i < end:
            if feed.done:
                break
            if fast:
                assert asset_status is not None
                i = feed.recorded_lines(chunk, i, asset_status, loop.time())
                if i == end:
                    break
            line = chunk[i]
            i += 1
            recorded = decode_line(line)
            if recorded is None:
                bad += 1
                diag.warn(f"{path}: skipped a line that is not a recorded frame", key="replay")
                continue
            if recorded.stream == SNAPSHOT_STREAM:
                feed.book.seed(contracts_from_snapshot(bytes(recorded.data)))
                continue
            status = statuses.get(ASSETS if is_asset_index_stream(recorded.stream) else CONTRACTS)
            if status is None:
                continue
            if speed > 0:
                if first_recv is None:
                    first_recv = recorded.recv_time
                due = started + (recorded.recv_time - first_recv) / 1000 / speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            status.message(loop.time())
            payload(recorded.stream, bytes(recorded.data), status)
        if feed.done:
            break
    if bad:
        diag.info(f"{path}: {bad} line(s) were not recorded frames")
