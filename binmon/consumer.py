"""Where decoded events go: one small typed interface, any number of outputs.

The feed hands every event (with the ``changes`` the contract book computed)
to a :class:`Fanout`, which calls its consumers in order. The JSON-lines
writer, the live view, the recorder and the null consumer are consumers like
any other; so are the outputs built on top of the events (collateral, alerts,
metrics), which plug in here without touching the feed.

Consumers override only the hooks they need: every hook of the base class
does nothing. A consumer that derives new records from the events publishes
them through the fan-out it is given, so that every consumer (the JSON writer
first, which keeps a derived line right after its event's line) sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from binmon.alerts import Alert
from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import Change, Contract

if TYPE_CHECKING:
    from binmon.collateral import CollateralReport


class Consumer:
    """The interface, with a no-op for every hook."""

    # May take an asset frame as finished JSON lines (the C accelerator's
    # output) instead of decoded events: see :meth:`asset_lines`.
    takes_encoded_assets: bool = False
    # False: needs no asset events at all (the recorder keeps frames only), so
    # it never stands in the way of the C accelerator.
    wants_asset_events: bool = True
    # True: wants the REST asset index snapshot a live run can start from.
    wants_asset_snapshot: bool = False
    # True: takes each asset frame whole. Alerts may hand a frame on in pieces
    # (each alert right after its event); such a consumer gets it once, after them.
    whole_frames: bool = False
    # May take a collateral report as a finished JSON line at the end of a
    # frame's lines in :meth:`asset_lines`, where the C code that encodes the
    # frame may append it (binmon.collateral.Collateral.encoders).
    takes_encoded_collateral: bool = False
    # True: takes every new entry of an asset frame, even when ``-s`` or
    # ``--count`` narrowed what the others get (see :meth:`narrowed_assets`).
    # Valuing holdings needs each held asset's latest entry, shown or not.
    unfiltered_assets: bool = False

    def frame(self, data: bytes | str) -> None:
        """A received message, at the moment its events are delivered (bad ones too)."""

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        """Asset index events of one frame, already deduplicated and filtered."""

    def asset_lines(self, data: bytes) -> None:
        """One asset frame as finished JSON lines (only if ``takes_encoded_assets``)."""

    def narrowed_assets(
        self,
        events: list[AssetIndex],
        raw: list[bytes] | None,
        whole: list[AssetIndex],
        whole_raw: list[bytes] | None,
    ) -> None:
        """An asset frame that ``-s`` or ``--count`` narrowed to ``events``
        (perhaps none) from ``whole``, its new entries: :meth:`assets` is given
        ``whole`` if ``unfiltered_assets``, else ``events`` if any are left."""
        if self.unfiltered_assets:
            self.assets(whole, whole_raw)
        elif events:
            self.assets(events, raw)

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        """One contract event and what it changed."""

    def contract_snapshot(self, contracts: Sequence[Contract]) -> None:
        """The REST contract snapshot has been applied to the book."""

    def asset_snapshot(self, events: list[AssetIndex]) -> None:
        """The REST asset index snapshot (only if ``wants_asset_snapshot``)."""

    def collateral(self, report: CollateralReport) -> None:
        """The holdings valued after an asset frame that carried a held asset."""

    def alert(self, alert: Alert) -> None:
        """An alert, right after the event that raised it (feed alerts stand alone)."""

    def flush(self) -> None:
        """A frame has been delivered in full, derived records included (in a
        replay as fast as possible: a batch of frames). Make visible what it
        produced: the one place an output flushes, so a frame and the lines
        derived from it reach a reader together."""

    def close(self) -> None:
        """The run is over."""


class Fanout(Consumer):
    """Calls every consumer, in the order given."""

    def __init__(self, consumers: Sequence[Consumer] = ()) -> None:
        self.consumers: list[Consumer] = []
        for consumer in consumers:
            self.add(consumer)

    def add(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self._refresh()

    def _refresh(self) -> None:
        consumers = self.consumers
        self.wants_asset_events = any(c.wants_asset_events for c in consumers)
        self.wants_asset_snapshot = any(c.wants_asset_snapshot for c in consumers)
        # Finished lines serve only if every consumer that wants asset events
        # can take them so; someone must want them, or the C call is waste.
        wanting = [c for c in consumers if c.wants_asset_events]
        self.takes_encoded_assets = bool(wanting) and all(c.takes_encoded_assets for c in wanting)
        self._asset_consumers = wanting
        self.unfiltered_assets = any(c.unfiltered_assets for c in wanting)
        self._frame_consumers = [c for c in consumers if type(c).frame is not Consumer.frame]
        # Called once per frame: only those that have something to flush.
        self._flushers = [c for c in consumers if type(c).flush is not Consumer.flush]
        # The report can ride at the end of a frame's lines (the frame encoded
        # and valued in one C call, written in one piece) only if everyone who
        # reads lines or reports can take it so: the metrics and the live view
        # need the report itself.
        readers = [c for c in consumers if type(c).collateral is not Consumer.collateral]
        self.takes_encoded_collateral = self.takes_encoded_assets and all(
            c.takes_encoded_collateral for c in (*readers, *wanting)
        )

    def frame(self, data: bytes | str) -> None:
        for consumer in self._frame_consumers:
            consumer.frame(data)

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        for consumer in self._asset_consumers:
            consumer.assets(events, raw)

    def asset_lines(self, data: bytes) -> None:
        for consumer in self._asset_consumers:
            consumer.asset_lines(data)

    def narrowed_assets(
        self,
        events: list[AssetIndex],
        raw: list[bytes] | None,
        whole: list[AssetIndex],
        whole_raw: list[bytes] | None,
    ) -> None:
        for consumer in self._asset_consumers:
            consumer.narrowed_assets(events, raw, whole, whole_raw)

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        for consumer in self.consumers:
            consumer.contract(event, changes, raw)

    def contract_snapshot(self, contracts: Sequence[Contract]) -> None:
        for consumer in self.consumers:
            consumer.contract_snapshot(contracts)

    def asset_snapshot(self, events: list[AssetIndex]) -> None:
        for consumer in self.consumers:
            if consumer.wants_asset_snapshot:
                consumer.asset_snapshot(events)

    def alert(self, alert: Alert) -> None:
        for consumer in self.consumers:
            consumer.alert(alert)

    def collateral(self, report: CollateralReport) -> None:
        for consumer in self.consumers:
            consumer.collateral(report)

    def flush(self) -> None:
        for consumer in self._flushers:
            consumer.flush()

    def close(self) -> None:
        """Close every consumer; one failing does not keep the others open."""
        failure: BaseException | None = None
        for consumer in self.consumers:
            try:
                consumer.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
