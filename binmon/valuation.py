"""The collateral consumer: values the holdings after every asset frame that
carries a held asset, and publishes the report to every consumer.

It takes the C accelerator's finished lines as readily as decoded events
(only the held symbols are looked for in them), so holding assets never
costs the fast path. It also ends every asset frame with a flush, so that
the JSON writer before it (see ``JsonLinesSink.followed``) hands the frame's
lines and its collateral line to the reader in one write.
"""

from __future__ import annotations

from binmon.collateral import Collateral
from binmon.consumer import Consumer
from binmon.diag import Diagnostics
from binmon.protocol import AssetIndex


class CollateralConsumer(Consumer):
    takes_encoded_assets = True

    def __init__(self, collateral: Collateral, publish: Consumer, diag: Diagnostics) -> None:
        self._tracker = collateral
        self._publish = publish
        self._diag = diag
        self._batched = False

    def batch(self) -> None:
        self._batched = True  # the replay loop flushes per batch

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self._report(self._tracker.events(events))

    def asset_lines(self, data: bytes) -> None:
        self._report(self._tracker.lines(data))

    def _report(self, event_time: int | None) -> None:
        if event_time is None:
            # No held asset, no line: the frame's own lines still go out now.
            if not self._batched:
                self._publish.flush()
            return
        report, warnings = self._tracker.report(event_time)
        for warning in warnings:
            self._diag.warn(warning, key=f"collateral {warning}")
        self._publish.collateral(report)
