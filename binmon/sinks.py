"""The JSON-lines writer, a consumer of events (see :mod:`binmon.consumer`)."""

from __future__ import annotations

from typing import Protocol

from binmon.alerts import Alert
from binmon.consumer import Consumer
from binmon.jsonl import encode_assets, encode_contract, encode_line, safe_json
from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import Change


class Writable(Protocol):
    """A binary stream, or :class:`binmon.output.Output` in front of one."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...


class JsonLinesSink(Consumer):
    """JSON lines on a binary stream, flushed once per received frame."""

    def __init__(self, out: Writable, raw: bool = False) -> None:
        self.out = out
        self.raw = raw
        self._flush = out.flush
        # Raw lines keep each element as received: the accelerator cannot make those.
        self.takes_encoded_assets = not raw

    def batch(self) -> None:
        """Stop flushing per frame; the caller flushes (a replay, as fast as possible)."""
        self._flush = _nothing

    def flush(self) -> None:
        self.out.flush()

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        if self.raw and raw is not None:
            self.out.write(b"".join([safe_json(r) + b"\n" for r in raw]))
        else:
            self.out.write(encode_assets(events))
        self._flush()

    def asset_lines(self, data: bytes) -> None:
        """Lines already encoded (the C fast path)."""
        self.out.write(data)
        self._flush()

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        if self.raw and raw is not None:
            self.out.write(safe_json(raw) + b"\n")
        else:
            self.out.write(encode_contract(event, changes))
        self._flush()

    def alert(self, alert: Alert) -> None:
        # Raw mode too: the user asked for alerts, and they are not events.
        self.out.write(encode_line(alert))
        self._flush()

    def close(self) -> None:
        self.out.flush()


def _nothing() -> None:
    pass
