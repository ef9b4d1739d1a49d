"""Alerts in a run: raised from the event flow, in order, and sent on.

:class:`AlertingFanout` is the run's fan-out with the alert rules inside:
every consumer hears of an event first and of its alerts right after, so the
JSON-lines writer puts an alert's line right after its event's line. Asset
frames carry many events; a frame with a buffer alert is handed on in
pieces, each ending with an event that raised one, followed by its alerts
(a consumer that must see frames whole, like the collateral report, gets
the whole frame after them).

Alerts come from what the feed delivers, after its dedupe (duplicate
frames, reconnect repeats, rotation overlaps) and its filters: an event
delivered once raises its alerts once, and ``-s``/``--status``/``--type``/
``--market`` narrow alerts as they narrow events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from binmon.alerts import (
    BUFFER,
    CONTRACT_KINDS,
    Alert,
    BufferWatch,
    PositionView,
    contract_alerts,
)
from binmon.consumer import Consumer, Fanout
from binmon.positions import Exposure
from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import Change

# For the ``position`` kind: the symbol's position on the event's ladder and
# on the one before it (None, None without a position or a ladder change).
Positions = Callable[[ContractInfo, list[Change]], tuple[PositionView | None, PositionView | None]]


def position_view(exposure: Exposure) -> PositionView:
    """A position (binmon.positions) as the alert rules read it, numbers as exact text."""
    margin = exposure.maintenance_margin
    return PositionView(
        notional=format(exposure.notional, "f"),
        bracket=exposure.bracket,
        max_leverage=exposure.max_leverage,
        maint_margin_ratio=exposure.maint_margin_ratio,
        maintenance_margin=None if margin is None else format(margin, "f"),
    )


class AlertingFanout(Fanout):
    def __init__(
        self,
        consumers: Sequence[Consumer],
        kinds: frozenset[str],
        positions: Positions | None = None,
    ) -> None:
        self.kinds = kinds
        self.positions = positions
        self._contract_kinds = kinds & CONTRACT_KINDS
        self._buffers = BufferWatch() if BUFFER in kinds else None
        self.raised = 0
        super().__init__(consumers)

    def _refresh(self) -> None:
        super()._refresh()
        if self._buffers is not None:
            # Buffer alerts read the decoded events: no finished lines.
            self.wants_asset_events = True
            self.takes_encoded_assets = False

    def alert(self, alert: Alert) -> None:
        self.raised += 1
        super().alert(alert)

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        if self._buffers is None:
            super().assets(events, raw)
        else:
            self._scanned(events, raw, events, raw)

    def narrowed_assets(
        self,
        events: list[AssetIndex],
        raw: list[bytes] | None,
        whole: list[AssetIndex],
        whole_raw: list[bytes] | None,
    ) -> None:
        if self._buffers is None:
            super().narrowed_assets(events, raw, whole, whole_raw)
        else:
            self._scanned(events, raw, whole, whole_raw)

    def _scanned(
        self,
        events: list[AssetIndex],
        raw: list[bytes] | None,
        whole: list[AssetIndex],
        whole_raw: list[bytes] | None,
    ) -> None:
        """Buffer alerts, each right after its event: of the events shown
        (``-s`` narrows alerts as it narrows events)."""
        assert self._buffers is not None
        found = self._buffers.scan(events)
        if not found:
            super().narrowed_assets(events, raw, whole, whole_raw)
            return
        # One taking frames unfiltered is not given pieces either: it gets the
        # whole frame once, after them.
        whole_once = [c for c in self._asset_consumers if c.whole_frames or c.unfiltered_assets]
        pieces = [c for c in self._asset_consumers if c not in whole_once]
        start = 0
        for index, alert in found:
            end = index + 1
            if end > start:
                part, part_raw = events[start:end], None if raw is None else raw[start:end]
                for consumer in pieces:
                    consumer.assets(part, part_raw)
                start = end
            self.alert(alert)
        if start < len(events):
            part, part_raw = events[start:], None if raw is None else raw[start:]
            for consumer in pieces:
                consumer.assets(part, part_raw)
        for consumer in whole_once:
            # (Given a frame not narrowed, whole is events: it takes them as they are.)
            consumer.narrowed_assets(events, raw, whole, whole_raw)

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        super().contract(event, changes, raw)
        if not changes or not self._contract_kinds:
            return
        position = before = None
        if self.positions is not None:
            position, before = self.positions(event, changes)
        for alert in contract_alerts(event, changes, self._contract_kinds, position, before):
            self.alert(alert)
