"""From received messages to consumer calls: decode, skip bad input, drop
duplicates, keep contract state, filter, count.

No I/O of its own; the connection (or a replay) pushes messages in, one
consumer (usually a :class:`binmon.consumer.Fanout` of several) takes events
out. One instance serves every stream of a run.
"""

from __future__ import annotations

from collections.abc import Callable

from binmon.consumer import Consumer
from binmon.diag import Diagnostics, printable
from binmon.filters import Filters
from binmon.protocol import (
    AssetIndex,
    ContractInfo,
    Frame,
    decode_message,
    decode_payload,
)
from binmon.state import ContractBook
from binmon.status import StreamStatus

# What the accelerator makes of an asset frame: its finished lines, event
# count, first and last event time, stream. The valued encoders add the newest
# held event time when the lines end with the collateral line (else None):
# see binmon.collateral.Collateral.encoders.
Encoded = tuple[bytes, int, int, int, str]
Valued = tuple[bytes, int, int, int, str, int | None]
FastResult = Encoded | Valued

FastPath = Callable[[bytes | str], FastResult | None]

_asset_index_lines: FastPath | None
_recorded_asset_index_lines: FastPath | None
try:
    from binmon._speedups import asset_index_lines as _asset_index_lines
    from binmon._speedups import recorded_asset_index_lines as _recorded_asset_index_lines
except ImportError:  # built without a C compiler: the pure-Python path does it all
    _asset_index_lines = _recorded_asset_index_lines = None


class Feed:
    def __init__(
        self,
        out: Consumer,
        diag: Diagnostics,
        *,
        filters: Filters | None = None,
        book: ContractBook | None = None,
        count: int | None = None,
        raw: bool = False,
        dedupe: bool = True,
        on_done: Callable[[], None] | None = None,
        encoders: tuple[FastPath, FastPath] | None = None,
    ) -> None:
        self.out = out
        self.diag = diag
        self.filters = filters or Filters()
        self.book = book or ContractBook()
        self.remaining = count
        self.raw = raw
        self.dedupe = dedupe
        self.on_done = on_done
        self.done = False
        self.events_written = 0
        self.malformed = 0
        self.duplicates = 0
        # A replay as fast as possible flushes per batch of frames, not per frame.
        self.batched = False
        # The C accelerator makes finished lines: only when nothing but the
        # encoding is asked of an asset frame (consumers that take lines, no globs).
        # (Live messages and recording lines are different envelopes: one entry each.)
        self._fast: FastPath | None = None
        self._fast_recorded: FastPath | None = None
        # ``encoders`` stand in for the plain ones (live, recorded): the
        # collateral valuation's, which append a line to the frame's own.
        if _asset_index_lines is not None and out.takes_encoded_assets and not self.filters.symbols:
            self._fast, self._fast_recorded = encoders or (
                _asset_index_lines,
                _recorded_asset_index_lines,
            )
        # Newest event time seen per asset-index stream / per contract symbol.
        self._asset_marks: dict[str | None, int] = {}
        # While the REST snapshot is on its way, contract events wait here so
        # that their `changes` are computed against it (see `release`).
        self._held: list[tuple[Frame, StreamStatus, bytes | str]] | None = None
        # Per contract symbol: the newest event time, and the events seen with
        # it (two different events may share a millisecond; a resend is equal).
        self._contract_marks: dict[str, tuple[int, list[ContractInfo]]] = {}

    # -- entry points -----------------------------------------------------

    def message(self, data: bytes | str, status: StreamStatus) -> None:
        """One message of a combined-stream connection."""
        if self.done:
            return
        if self._fast is not None:
            result = self._fast(data)
            if result is not None and self._fast_frame(result, status):
                self.out.frame(data)
                self.out.flush()
                return
        frame = decode_message(data, want_raw=self.raw)
        self._frame(frame, status, data)
        # Every frame ends with its outputs flushed: a reader never waits on a
        # buffer for an event that has arrived.
        self.out.flush()

    def recorded_lines(
        self, lines: list[bytes], start: int, status: StreamStatus, now: float
    ) -> int:
        """Whole recording lines through the fast path, in order, from ``start``.

        Returns the index of the first line that must be decoded instead
        (``len(lines)`` if none). Only for a replay as fast as possible: no
        count, no dedupe, nothing else asked of an asset frame.
        """
        fast = self._fast_recorded
        end = len(lines)
        if fast is None or self.done or self.remaining is not None or self.dedupe:
            return start
        write = self.out.asset_lines
        i, events, last_time = start, 0, None
        # The replay hot loop: one C call and one write per line, nothing else.
        while i < end:
            result = fast(lines[i])
            if result is None:
                break
            write(result[0])
            events += result[1]
            last_time = result[3]
            i += 1
        if i > start:
            self.events_written += events
            status.message(now, i - start)
            status.last_event_time_ms = last_time
        return i

    def payload(self, stream: str, data: bytes, status: StreamStatus) -> None:
        """One payload from a recording."""
        if self.done:
            return
        frame = decode_payload(stream, data, want_raw=self.raw)
        self._frame(frame, status, data, recorded=True)
        if not self.batched:
            self.out.flush()

    def batch(self) -> None:
        """Flush per batch, not per frame: the caller flushes (``out.flush()``)."""
        self.batched = True

    def hold_contracts(self) -> None:
        self._held = []

    def release(self) -> None:
        """Deliver held contract events, in order, and stop holding."""
        held, self._held = self._held, None
        for frame, status, data in held or ():
            if self.done:
                break
            self._contracts(frame, status)
            self.out.frame(data)
            self.out.flush()

    # -- internals --------------------------------------------------------

    def _fast_frame(self, result: FastResult, status: StreamStatus) -> bool:
        lines, count, first_time, last_time, stream = (
            result[0],
            result[1],
            result[2],
            result[3],
            result[4],
        )
        # Anything but a plain new frame, wholly wanted, is left to the general path.
        if self.remaining is not None and count > self.remaining:
            return False
        if self.dedupe:
            mark = self._asset_marks.get(stream, -1)
            if first_time != last_time or first_time <= mark:
                return False
            self._asset_marks[stream] = last_time
        status.last_event_time_ms = last_time
        self.out.asset_lines(lines)
        self._written(count)
        return True

    def _frame(
        self, frame: Frame, status: StreamStatus, data: bytes | str, recorded: bool = False
    ) -> None:
        if frame.malformed:
            self._bad(frame, status, data)
        if frame.error is not None:
            self.diag.warn(
                f"{status.name}: server error {frame.error.code}: {printable(frame.error.msg)}",
                key=f"server-error-{status.name}",
            )
        if not frame.events:
            # A recording keeps every frame received, bad ones included (when
            # they are at least an envelope, so that the line stays JSON).
            if not recorded and frame.malformed:
                self.out.frame(data)
            return
        first = frame.events[0]
        if type(first) is AssetIndex:
            self._assets(frame, status)
        elif self._held is not None:
            self._held.append((frame, status, data))
            return
        else:
            self._contracts(frame, status)
        if not recorded:
            self.out.frame(data)

    def _bad(self, frame: Frame, status: StreamStatus, data: bytes | str) -> None:
        self.malformed += frame.malformed
        status.malformed += frame.malformed
        self.diag.warn(
            f"{status.name}: skipped a malformed frame ({printable(frame.problem, 120)}); "
            f"{status.malformed} so far",
            key=f"malformed-{status.name}",
        )
        self.diag.debug(f"skipped frame: {printable(data, 2000)}")

    def _assets(self, frame: Frame, status: StreamStatus) -> None:
        events: list[AssetIndex] = frame.events  # type: ignore[assignment]
        raw = frame.raw
        first_time, last_time = events[0].event_time, events[-1].event_time
        if self.dedupe:
            mark = self._asset_marks.get(frame.stream, -1)
            if first_time > mark and last_time > mark and first_time == last_time:
                self._asset_marks[frame.stream] = last_time
            else:
                keep = [i for i, e in enumerate(events) if e.event_time > mark]
                if len(keep) != len(events):
                    self.duplicates += len(events) - len(keep)
                    events = [events[i] for i in keep]
                    raw = None if raw is None else [raw[i] for i in keep]
                if not events:
                    return
                self._asset_marks[frame.stream] = max(e.event_time for e in events)
        status.last_event_time_ms = last_time
        whole, whole_raw = events, raw
        if self.filters.symbols:
            keep = [i for i, e in enumerate(events) if self.filters.symbol_ok(e.symbol)]
            if len(keep) != len(events):
                events = [events[i] for i in keep]
                raw = None if raw is None else [raw[i] for i in keep]
        if self.remaining is not None and len(events) > self.remaining:
            events = events[: self.remaining]
            raw = None if raw is None else raw[: self.remaining]
        if events is whole:
            self.out.assets(events, raw)
        elif events or self.out.unfiltered_assets:
            self.out.narrowed_assets(events, raw, whole, whole_raw)
        if events:
            self._written(len(events))

    def _contracts(self, frame: Frame, status: StreamStatus) -> None:
        for index, event in enumerate(frame.events):
            if self.done:
                return
            assert isinstance(event, ContractInfo)
            if self.dedupe and self._repeated(event):
                self.duplicates += 1
                continue
            status.last_event_time_ms = event.event_time
            changes = self.book.apply(event)
            if not self.filters.contract_ok(event):
                continue
            if self.filters.changes_only and not changes:
                continue
            self.out.contract(event, changes, None if frame.raw is None else frame.raw[index])
            self._written(1)

    def _repeated(self, event: ContractInfo) -> bool:
        """Seen before (a resend, or the overlap of a rotation); else remembered."""
        mark = self._contract_marks.get(event.symbol)
        if mark is not None:
            newest, seen = mark
            if event.event_time < newest:
                return True
            if event.event_time == newest:
                if event in seen:
                    return True
                seen.append(event)
                return False
        self._contract_marks[event.symbol] = (event.event_time, [event])
        return False

    def _written(self, n: int) -> None:
        self.events_written += n
        if self.remaining is not None:
            self.remaining -= n
            if self.remaining <= 0:
                self.done = True
                if self.on_done is not None:
                    self.on_done()
