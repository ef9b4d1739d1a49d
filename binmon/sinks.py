"""The JSON-lines writer, a consumer of events (see :mod:`binmon.consumer`)."""

from __future__ import annotations

from typing import Protocol

from binmon.alerts import Alert
from binmon.collateral import CollateralReport
from binmon.consumer import Consumer
from binmon.jsonl import encode_assets, encode_collateral, encode_contract, encode_line, safe_json
from binmon.positions import Positions
from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import Change


class Writable(Protocol):
    """A binary stream, or :class:`binmon.output.Output` in front of one."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...


class JsonLinesSink(Consumer):
    """JSON lines on a binary stream, flushed once per received frame."""

    takes_encoded_collateral = True

    def __init__(
        self, out: Writable, raw: bool = False, positions: Positions | None = None
    ) -> None:
        self.out = out
        self.raw = raw
        # Positions add their keys to contract_info lines (not to --raw ones,
        # which are the exchange's objects as received).
        self.positions = None if raw else positions
        # Raw lines keep each element as received: the accelerator cannot make those.
        self.takes_encoded_assets = not raw

    def flush(self) -> None:
        self.out.flush()

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        if self.raw and raw is not None:
            self.out.write(b"".join([safe_json(r) + b"\n" for r in raw]))
        else:
            self.out.write(encode_assets(events))

    def asset_lines(self, data: bytes) -> None:
        """Lines already encoded (the C fast path)."""
        self.out.write(data)

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        if self.raw and raw is not None:
            self.out.write(safe_json(raw) + b"\n")
        else:
            position = None if self.positions is None else self.positions.for_event(event, changes)
            self.out.write(encode_contract(event, changes, position))

    def collateral(self, report: CollateralReport) -> None:
        self.out.write(encode_collateral(report))

    def alert(self, alert: Alert) -> None:
        # Raw mode too: the user asked for alerts, and they are not events.
        self.out.write(encode_line(alert))

    def close(self) -> None:
        self.out.flush()
