"""Recordings: JSON lines ``{"recv_time":ms,"stream":name,"data":payload}``, gzip by name."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from typing import IO

import msgspec

from binmon.errors import BinmonError
from binmon.state import Contract

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


def _open(path: str, mode: str) -> IO[bytes]:
    try:
        if path.endswith(".gz"):
            return gzip.open(path, mode + "b")  # type: ignore[return-value]
        return open(path, mode + "b")
    except OSError as exc:
        raise BinmonError(f"cannot open {path}: {exc.strerror or exc}") from None


class Recorder:
    """Appends frames as received; flushed per frame so a killed run keeps its data."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = _open(path, "a")
        self.frames = 0

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
        self.file.close()


def read_lines(path: str, on_truncated: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """Each complete, non-blank line of a recording, undecoded.

    A recording still being written, or cut off by a crash, ends in a partial
    line (or a gzip stream without its end marker): everything complete is
    replayed and the rest reported, not treated as a failure.
    """
    with _open(path, "r") as file:
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
