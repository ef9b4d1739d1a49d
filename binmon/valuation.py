"""The collateral consumer: values the holdings after every asset frame that
carries a held asset, and publishes the report to every consumer.

It takes the C accelerator's finished lines as readily as decoded events
(only the held symbols are looked for in them), so holding assets never
costs the fast path; and when every reader of reports takes finished lines
(JSON lines output), the report itself is made in C, straight to its line.
Its report is published before the feed ends the frame with a flush, so the
frame's lines and its collateral line reach a reader together.
"""

from __future__ import annotations

from binmon.collateral import Collateral
from binmon.consumer import Consumer
from binmon.diag import Diagnostics, printable
from binmon.protocol import AssetIndex


class CollateralConsumer(Consumer):
    takes_encoded_assets = True
    # One report per frame, whatever pieces alerts cut it into.
    whole_frames = True

    def __init__(self, collateral: Collateral, publish: Consumer, diag: Diagnostics) -> None:
        self._tracker = collateral
        self._publish = publish
        self._diag = diag

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self._report(self._tracker.events(events))

    def asset_lines(self, data: bytes) -> None:
        publish = self._publish
        if publish.takes_encoded_collateral:
            # The whole report in C, when it can be sure of it: no warnings
            # are possible then (every holding valued, exactly).
            line = self._tracker.line(data)
            if line is not None:
                publish.collateral_line(line)
                return
        self._report(self._tracker.lines(data))

    def _report(self, event_time: int | None) -> None:
        if event_time is None:
            return  # no held asset in this frame, no line
        report, warnings = self._tracker.report(event_time)
        for warning in warnings:
            # Asset names may come from the account answer: printable only.
            self._diag.warn(printable(warning), key=f"collateral {warning}")
        self._publish.collateral(report)
