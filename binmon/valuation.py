"""The collateral consumer: values the holdings after every asset frame that
carries a held asset, and publishes the report to every consumer.

It takes the C accelerator's finished lines as readily as decoded events
(only the held symbols are looked for in them), so holding assets never
costs the fast path; and when every output takes the report as a finished
line (JSON lines output), the runner has the feed encode asset frames with
:meth:`Collateral.encoders`, which value the frame in the same C call and
append the collateral line to the frame's own lines.
Its report is published before the feed ends the frame with a flush, so the
frame's lines and its collateral line reach a reader together.
"""

from __future__ import annotations

from binmon.collateral import Collateral
from binmon.consumer import Consumer, Fanout
from binmon.diag import Diagnostics, printable
from binmon.feed import FastPath
from binmon.protocol import AssetIndex


def attach(
    collateral: Collateral, outputs: Fanout, diag: Diagnostics
) -> tuple[FastPath, FastPath] | None:
    """Value ``collateral`` for ``outputs``: adds the consumer that does it,
    last, so that its reports reach every output right after the frame's own
    lines. Returns the encoders the feed is to use (see ``Feed(encoders=)``):
    when every output takes the report as a finished line (JSON lines only),
    each frame is valued in C as it is encoded and written in one piece."""
    outputs.add(CollateralConsumer(collateral, outputs, diag))
    return collateral.encoders() if outputs.takes_encoded_collateral else None


class CollateralConsumer(Consumer):
    takes_encoded_assets = True
    # The lines it is given may end with its own collateral line (see
    # Collateral.encoders): it knows them by identity.
    takes_encoded_collateral = True
    # One report per frame, whatever pieces alerts cut it into.
    whole_frames = True
    # A held asset is valued from its latest entry, whether -s shows it or not,
    # and a frame --count cuts short is still valued whole.
    unfiltered_assets = True

    def __init__(self, collateral: Collateral, publish: Consumer, diag: Diagnostics) -> None:
        self._tracker = collateral
        self._publish = publish
        self._diag = diag

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self._report(self._tracker.events(events))

    def asset_lines(self, data: bytes) -> None:
        tracker = self._tracker
        # Valued in C as it was encoded: its line is already in `data`, and
        # no warnings are possible then (every holding valued, exactly).
        if not tracker.took(data):
            self._report(tracker.lines(data))

    def _report(self, event_time: int | None) -> None:
        if event_time is None:
            return  # no held asset in this frame, no line
        report, warnings = self._tracker.report(event_time)
        for warning in warnings:
            # Asset names may come from the account answer: printable only.
            self._diag.warn(printable(warning), key=f"collateral {warning}")
        self._publish.collateral(report)
