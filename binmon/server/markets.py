"""Where ``binmon serve``'s data comes from: the generated scenario or a recording.

Both publish frames to the hub and keep what the REST endpoints read (the
contracts and the latest asset index entries).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from binmon.protocol import PERPETUAL_DELIVERY_MS
from binmon.recording import SNAPSHOT_STREAM, contracts_from_snapshot, read_lines
from binmon.server import ServerConfig
from binmon.server.asset_walk import ASSETS
from binmon.server.clock import now_ms
from binmon.server.contracts import CM, UM, Contract
from binmon.server.hub import ASSET_INDEX_ALL, ASSET_STREAM_SUFFIX, CONTRACT_INFO, Hub
from binmon.server.scenario import Scenario, Tick
from binmon.server.wire import AssetIndexUpdate, BracketWire, encode
from binmon.state import Contract as StateContract

if TYPE_CHECKING:
    from binmon.server.state import ServerState


class Market:
    """What the REST endpoints read: contracts and the latest asset index entries."""

    contracts: dict[str, Contract]
    latest_assets: dict[str, AssetIndexUpdate]
    version: int

    async def ready(self) -> None:
        return None

    def reference_prices(self) -> dict[str, Decimal]:
        """USD prices of assets that fix each contract's trading rules (exchangeInfo)."""
        return {}

    async def run(self, state: ServerState) -> None:
        raise NotImplementedError


class ScenarioMarket(Market):
    def __init__(self, config: ServerConfig) -> None:
        start = config.start_ms if config.start_ms is not None else now_ms(config.clock_offset_ms)
        self.scenario = Scenario(
            config.seed, start_ms=start, rate=config.rate, symbols=config.symbols
        )
        self.contracts = self.scenario.contracts
        self.latest_assets = self.scenario.latest_assets
        self.version = 0
        self._asset_streams = {s: s.lower() + ASSET_STREAM_SUFFIX for s in self.latest_assets}
        self._reference_prices = {spec.asset: Decimal(spec.price) for spec in ASSETS}

    def reference_prices(self) -> dict[str, Decimal]:
        return self._reference_prices

    async def run(self, state: ServerState) -> None:
        interval = self.scenario.interval_ms
        offset = state.config.clock_offset_ms
        # Ticks sit on the server clock's grid: at 1 Hz every E is a whole
        # second, as on the exchange.
        target = (now_ms(offset) // interval + 1) * interval
        while True:
            delay = (target - now_ms(offset)) / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            self.publish(state.hub, self.scenario.tick(target))
            target += interval
            behind = now_ms(offset) - target
            if behind > 5 * interval:
                # The loop was blocked: skip the missed ticks rather than burst them.
                target += (behind // interval) * interval

    def publish(self, hub: Hub, tick: Tick) -> None:
        self.latest_assets = self.scenario.latest_assets
        if tick.contracts:
            self.version += 1
        if hub.wanted(ASSET_INDEX_ALL):
            hub.publish(ASSET_INDEX_ALL, encode(tick.assets))
        for entry in tick.assets:
            stream = self._asset_streams.get(entry.s) or entry.s.lower() + ASSET_STREAM_SUFFIX
            if hub.wanted(stream):
                hub.publish(stream, encode(entry))
        if tick.contracts and hub.wanted(CONTRACT_INFO):
            for event in tick.contracts:
                hub.publish(CONTRACT_INFO, encode(event))


class _RecordLine(msgspec.Struct):
    recv_time: int
    stream: str
    data: msgspec.Raw


class _LenientBracket(msgspec.Struct):
    bs: int
    bnf: Decimal
    bnc: Decimal
    mmr: Decimal
    cf: Decimal
    ma: int
    mi: int | None = None


class _LenientContract(msgspec.Struct):
    s: str
    E: int = 0
    ps: str | None = None
    ct: str | None = None
    dt: int | None = None
    ot: int | None = None
    cs: str | None = None
    st: int | None = None
    bks: list[_LenientBracket] | None = None


class _Symbol(msgspec.Struct):
    s: str


class _StreamOnly(msgspec.Struct):
    stream: str


_RECORD = msgspec.json.Decoder(_RecordLine)
_CONTRACT = msgspec.json.Decoder(_LenientContract)
_ASSETS = msgspec.json.Decoder(list[AssetIndexUpdate] | AssetIndexUpdate)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_SYMBOL = msgspec.json.Decoder(_Symbol)
_STREAM_ONLY = msgspec.json.Decoder(_StreamOnly)

_QUOTES: Final = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "USD")


def _from_snapshot(c: StateContract) -> _LenientContract:
    market = {"UM": UM, "CM": CM}.get(c.market or "")
    return _LenientContract(
        s=c.symbol,
        ps=c.pair,
        ct=c.contract_type,
        dt=c.delivery_time,
        ot=c.onboard_time,
        cs=c.status,
        st=market,
    )


def _split_symbol(symbol: str, pair: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote
    return pair, "USDT"


class ReplayMarket(Market):
    """Serves a recording (``binmon record`` format) with its original timing."""

    def __init__(self, config: ServerConfig) -> None:
        assert config.from_file is not None
        self.path = Path(config.from_file)
        self.speed = config.speed
        self.contracts = {}
        self.latest_assets = {}
        self.version = 0
        self.recorded_streams: set[str] = set()
        self.skipped = 0
        self._scanned: asyncio.Future[None] | None = None
        self._reference_prices: dict[str, Decimal] = {}

    def _lines(self) -> Iterator[_RecordLine]:
        for line in read_lines(str(self.path)):
            try:
                yield _RECORD.decode(line)
            except msgspec.DecodeError:
                self.skipped += 1

    def _prescan(self) -> None:
        # exchangeInfo must list every symbol before its first event is
        # replayed, as the real one would: it starts from each symbol's first state.
        for line in read_lines(str(self.path)):
            try:
                stream = _STREAM_ONLY.decode(line).stream
            except msgspec.DecodeError:
                continue
            self.recorded_streams.add(stream)
            if stream == CONTRACT_INFO:
                self._apply_contract(bytes(_RECORD.decode(line).data), first_only=True)
            elif stream == SNAPSHOT_STREAM:
                # The live run's exchangeInfo: every symbol, including the many
                # that never send an event during a recording.
                for seed in contracts_from_snapshot(bytes(_RECORD.decode(line).data)):
                    self._apply_event(_from_snapshot(seed), first_only=True)
            elif not self.latest_assets and (
                stream == ASSET_INDEX_ALL or stream.endswith(ASSET_STREAM_SUFFIX)
            ):
                self._apply_assets(bytes(_RECORD.decode(line).data))
        # The first recorded index of each asset fixes its contracts' trading rules.
        for symbol, entry in self.latest_assets.items():
            with contextlib.suppress(ArithmeticError):
                price = Decimal(entry.i)
                if price.is_finite() and price > 0:
                    self._reference_prices[symbol.removesuffix("USD")] = price

    def reference_prices(self) -> dict[str, Decimal]:
        return self._reference_prices

    async def ready(self) -> None:
        if self._scanned is None:
            self._scanned = asyncio.ensure_future(asyncio.to_thread(self._prescan))
        await asyncio.shield(self._scanned)

    def _apply_contract(self, data: bytes, *, first_only: bool = False) -> None:
        try:
            event = _CONTRACT.decode(data)
        except msgspec.DecodeError:
            return
        self._apply_event(event, first_only=first_only)

    def _apply_event(self, event: _LenientContract, *, first_only: bool) -> None:
        known = self.contracts.get(event.s)
        if known is not None and first_only:
            return
        if known is None:
            pair = event.ps or event.s.split("_")[0]
            base, quote = _split_symbol(event.s, pair.removesuffix("_PERP"))
            market = event.st or UM
            known = Contract(
                symbol=event.s,
                pair=pair,
                contract_type=event.ct or "PERPETUAL",
                delivery_ms=event.dt or PERPETUAL_DELIVERY_MS,
                onboard_ms=event.ot or event.E,
                status=event.cs or "TRADING",
                base=base,
                quote=quote,
                margin=base if market == CM else quote,
                underlying="COIN",
                market=market,
                rungs=[],
                brackets=[],
            )
            self.contracts[event.s] = known
        else:
            known.pair = event.ps or known.pair
            known.contract_type = event.ct or known.contract_type
            known.delivery_ms = event.dt or known.delivery_ms
            known.onboard_ms = event.ot or known.onboard_ms
            known.status = event.cs or known.status
            known.market = event.st or known.market
        # An empty bks list says nothing about brackets.
        if event.bks:
            known.brackets = [
                BracketWire(
                    b.bs, int(b.bnf), int(b.bnc), b.mmr, b.cf, b.mi if b.mi is not None else 1, b.ma
                )
                for b in event.bks
            ]
        self.version += 1

    def _apply_assets(self, data: bytes) -> None:
        try:
            decoded = _ASSETS.decode(data)
        except msgspec.DecodeError:
            return
        for entry in decoded if isinstance(decoded, list) else [decoded]:
            self.latest_assets[entry.s] = entry

    async def run(self, state: ServerState) -> None:
        await self.ready()
        hub = state.hub
        # A recording has a beginning: start it when someone is listening,
        # not while the client is still being started.
        await hub.first_subscriber.wait()
        state.log(f"replaying {self.path.name} at {self.speed:g}x")
        loop = asyncio.get_running_loop()
        started: float | None = None
        first_recv = 0
        lines = self._lines()
        while True:
            # Reading is quick and line-sized; a thread hop per line would cost more.
            rec = next(lines, None)
            if rec is None:
                break
            if rec.stream == SNAPSHOT_STREAM:
                # binmon's own note of where the live run started, not a stream.
                continue
            if started is None:
                started, first_recv = loop.time(), rec.recv_time
            due = started + (rec.recv_time - first_recv) / 1000 / self.speed
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            data = bytes(rec.data)
            if rec.stream == CONTRACT_INFO:
                self._apply_contract(data)
            elif rec.stream.endswith(ASSET_STREAM_SUFFIX) or rec.stream == ASSET_INDEX_ALL:
                self._apply_assets(data)
            hub.publish(rec.stream, data)
            if rec.stream == ASSET_INDEX_ALL:
                self._publish_derived(hub, data)
            if delay <= 0.001:
                # Catching up: still let connections and REST in now and then.
                await asyncio.sleep(0)
        state.log(f"recording {self.path.name} finished ({self.skipped} bad lines skipped)")

    def _publish_derived(self, hub: Hub, data: bytes) -> None:
        """Serve ``<asset>@assetIndex`` from ``!assetIndex@arr`` when it was not recorded itself."""
        try:
            elements = _RAW_LIST.decode(data)
        except msgspec.DecodeError:
            return
        for element in elements:
            try:
                symbol = _SYMBOL.decode(element).s
            except msgspec.DecodeError:
                continue
            stream = symbol.lower() + ASSET_STREAM_SUFFIX
            if stream not in self.recorded_streams and hub.wanted(stream):
                hub.publish(stream, bytes(element))
