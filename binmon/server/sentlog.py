"""``binmon serve --log FILE``: what the server really sent, for checking a client against.

One JSON object per line, appended:

- a data frame written to a client WebSocket (after the write succeeded;
  control replies, pings and injected garbage are not data)::

      {"t":<wall ms>,"c":<connection id>,"s":"<stream>","k":[["<symbol s>",<event time E>],...]}

- a connection's life, so that a gap can be tied to its cause::

      {"t":...,"c":...,"ev":"open","path":"/market/stream?streams=..."}
      {"t":...,"c":...,"ev":"fault","what":"drop"}   (or "close 1011", "silent", "abort",
                                                     "too slow", "no pong": the server's doing)
      {"t":...,"c":...,"ev":"closed","frames":<data frames sent>}

Keys rather than payloads: a few thousand events a second stay a few
hundred kB/s. The keys of a frame are extracted once per published frame,
however many connections it goes to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

import msgspec

# The file is flushed at least this often while frames are being written, so
# that `tail -f` works and a killed server loses at most this much.
FLUSH_INTERVAL: Final = 1.0
_BUFFER: Final = 1 << 20


class _Key(msgspec.Struct):
    s: str = ""
    E: int = 0


_KEYS: Final = msgspec.json.Decoder(list[_Key] | _Key)
_KEY_LIST: Final = msgspec.json.Encoder()


def frame_keys(payload: bytes) -> bytes:
    """``[[s, E], ...]`` of a stream payload (an array or one object), as JSON."""
    try:
        decoded = _KEYS.decode(payload)
    except msgspec.DecodeError:
        # A replayed recording can hold anything; the line still says a frame went out.
        return b"null"
    items = decoded if isinstance(decoded, list) else [decoded]
    return _KEY_LIST.encode([(k.s, k.E) for k in items])


class SentLog:
    """Appends to FILE; buffered, flushed every second and on :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = open(self.path, "ab", buffering=_BUFFER)  # noqa: SIM115
        self._flushed_at = time.monotonic()
        self._streams: dict[str, bytes] = {}

    def data(self, conn: int, stream: str, keys: bytes) -> None:
        name = self._streams.get(stream)
        if name is None:
            name = self._streams[stream] = msgspec.json.encode(stream)
        self._write(b'{"t":%d,"c":%d,"s":%s,"k":%s}\n' % (_ms(), conn, name, keys))

    def event(self, conn: int, ev: str, **fields: object) -> None:
        body = msgspec.json.encode({"t": _ms(), "c": conn, "ev": ev, **fields})
        self._write(body + b"\n")

    def _write(self, line: bytes) -> None:
        f = self._file
        if f is None:
            # A writer still winding down after the server stopped.
            return
        f.write(line)
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_INTERVAL:
            self._flushed_at = now
            f.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()


def _ms() -> int:
    return time.time_ns() // 1_000_000


# --- reading it back -----------------------------------------------------------


@dataclass
class SentConnection:
    """One connection as the sent log tells it (times are wall ms)."""

    id: int
    path: str = ""
    opened_at: int | None = None
    closed_at: int | None = None
    # Data frames sent, as counted at close (None: still open when the log ended).
    frames: int | None = None
    faults: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SentRecord:
    """A sent log, read back."""

    # (wall ms, connection, stream, symbol, event time) per event, in the order written.
    events: list[tuple[int, int, str, str, int]] = field(default_factory=list)
    frames: int = 0
    connections: dict[int, SentConnection] = field(default_factory=dict)
    bad_lines: int = 0

    def keys(self, connection: int) -> list[tuple[str, int]]:
        """The (symbol, event time) keys sent on one connection, in order."""
        return [(s, e) for _, c, _, s, e in self.events if c == connection]


class _Line(msgspec.Struct):
    t: int
    c: int
    s: str | None = None
    k: list[tuple[str, int]] | None = None
    ev: str | None = None
    path: str | None = None
    what: str | None = None
    frames: int | None = None


_LINE: Final = msgspec.json.Decoder(_Line)


def iter_lines(path: str | Path) -> Iterator[_Line | None]:
    """Each line decoded; None for one that is not (a server killed mid-write)."""
    with open(path, "rb") as f:
        for raw in f:
            try:
                yield _LINE.decode(raw)
            except msgspec.DecodeError:
                yield None


def read_sent_log(path: str | Path) -> SentRecord:
    record = SentRecord()
    events = record.events
    connections = record.connections
    for line in iter_lines(path):
        if line is None:
            record.bad_lines += 1
            continue
        if line.s is not None:
            record.frames += 1
            t, c, stream = line.t, line.c, line.s
            events.extend((t, c, stream, symbol, e) for symbol, e in line.k or ())
            continue
        conn = connections.get(line.c)
        if conn is None:
            conn = connections[line.c] = SentConnection(line.c)
        if line.ev == "open":
            conn.path, conn.opened_at = line.path or "", line.t
        elif line.ev == "fault":
            conn.faults.append((line.t, line.what or ""))
        elif line.ev == "closed":
            conn.closed_at, conn.frames = line.t, line.frames
    return record


__all__ = [
    "SentConnection",
    "SentLog",
    "SentRecord",
    "frame_keys",
    "iter_lines",
    "read_sent_log",
]
