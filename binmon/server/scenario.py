"""A generated, deterministic market for ``binmon serve``: no I/O, no copied data.

:class:`Scenario` owns an asset index (random walks around realistic price
levels) and a contract universe of several hundred symbols with leverage
bracket ladders. ``tick(now_ms)`` advances it by one asset-index period and
returns the frames of that period: one ``assetIndexUpdate`` per asset and the
``contractInfo`` events that happened (listings, go-lives, delistings,
quarterly rolls, bracket adjustments, and the odd duplicate frame the real
exchange is known to send).

Everything is driven by tick counts, not wall time, so the same seed and the
same sequence of ``now_ms`` give the same frames, and a faster tick rate
speeds contract events up proportionally. Published decimals are exact:
prices are integer units of 1e-8, rates and cumulative amounts are computed
with :class:`~decimal.Decimal` and quantized; no float ever reaches the wire.

Over 500 lines: it is one class, :class:`Scenario`, a single state machine
whose event kinds all share its random stream, schedule and universe. What it
draws on lives beside it: the wire structs (:mod:`~binmon.server.wire`),
bracket ladders (:mod:`~binmon.server.ladders`), the asset index walk
(:mod:`~binmon.server.asset_walk`) and the contract universe
(:mod:`~binmon.server.contracts`).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec

from binmon.protocol import PERPETUAL_DELIVERY_MS
from binmon.server.asset_walk import ASSETS, AssetSpec, AssetWalk
from binmon.server.contracts import (
    BASES,
    CM,
    CM_BASES,
    CONSONANTS,
    GONE,
    LARGE,
    LIVE,
    SUBTYPES,
    UM,
    VOWELS,
    Contract,
    delivery_suffix,
    quarter_deliveries,
)
from binmon.server.ladders import Rung, build_brackets, ladder_rungs, nice_between
from binmon.server.wire import (
    AssetIndexUpdate,
    BracketWire,
    ContractInfoUpdate,
    encode,
    plain,
    q8,
    text8,
)

DEFAULT_START_MS: Final = 1767225600000
# Onboard time of the first Binance USD-M perpetuals (2019-09-25 08:00 UTC).
FIRST_LISTING_MS: Final = 1569398400000

_Q8: Final = Decimal("0.00000001")
_UNITS: Final = 10**8
_HOUR_MS: Final = 3_600_000
_HALF_HOUR_MS: Final = 1_800_000
_DAY_MS: Final = 86_400_000


@dataclass(slots=True)
class Tick:
    """What one period produced: the asset index entries and any contract events."""

    time_ms: int
    assets: list[AssetIndexUpdate]
    contracts: list[ContractInfoUpdate]


# Follow-up actions scheduled for a later tick.
_GO_LIVE: Final = "go_live"
_PENDING_BRACKETS: Final = "pending_brackets"
_RESEND: Final = "resend"
_DELIVERED: Final = "delivered"
_LIST_QUARTER: Final = "list_quarter"

_EVENT_WEIGHTS: Final = (
    ("list", 10),
    ("delist", 10),
    ("leverage", 30),
    ("cap", 15),
    ("split", 8),
    ("duplicate", 8),
    ("roll", 3),
)


class Scenario:
    """A deterministic exchange: ``tick(now_ms)`` once per asset-index period.

    ``rate`` is the number of ticks per second the caller intends to use; it
    only sets how far ahead a new listing's onboard time lies (a fixed number
    of ticks), so that everything runs proportionally faster at higher rates.
    """

    # Contract events: one every 2-7 ticks ("every few seconds" at 1 Hz).
    EVENT_GAP: Final = (2, 7)
    ROLL_COOLDOWN_TICKS: Final = 1800
    PURGE_AFTER_TICKS: Final = 3600

    def __init__(
        self,
        seed: int = 0,
        *,
        start_ms: int = DEFAULT_START_MS,
        rate: float = 1.0,
        symbols: int = 650,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.seed = seed
        self.start_ms = start_ms
        self.interval_ms = max(1, round(1000 / rate))
        self.now_ms = start_ms
        self.ticks = 0
        self._asset_rng = random.Random(f"{seed}:assets")
        self._rng = random.Random(f"{seed}:events")
        self._assets = [AssetWalk(spec) for spec in ASSETS]
        self.latest_assets: dict[str, AssetIndexUpdate] = {
            a.symbol: a.update(start_ms) for a in self._assets
        }
        self.contracts: dict[str, Contract] = {}
        self._symbols: list[str] = []
        self._names: set[str] = set()
        # pair -> [current quarter delivery, next quarter delivery]
        self._quarters: dict[str, list[int]] = {}
        self._pending: list[tuple[int, int, str, object]] = []
        self._seq = 0
        self._build_universe(random.Random(f"{seed}:universe"), symbols)
        for contract in self.contracts.values():
            if contract.status == "PENDING_TRADING":
                # Announced listings go live at their onboard time (in scenario seconds).
                delay = -(-(contract.onboard_ms - start_ms) // 1000) + 1
                self._schedule(delay, _GO_LIVE, contract.symbol)
        self._recent: deque[ContractInfoUpdate] = deque(maxlen=8)
        # The newest event time sent per symbol (see _in_order).
        self._last_event_ms: dict[str, int] = {}
        self._next_event_tick = self._rng.randint(*self.EVENT_GAP)
        self._last_roll_tick = -self.ROLL_COOLDOWN_TICKS
        self._kinds = [k for k, _ in _EVENT_WEIGHTS]
        self._weights = [w for _, w in _EVENT_WEIGHTS]

    # --- public API ---------------------------------------------------

    @property
    def asset_symbols(self) -> list[str]:
        return list(self.latest_assets)

    def tick(self, now_ms: int) -> Tick:
        self.ticks += 1
        self.now_ms = now_ms
        rng = self._asset_rng
        assets = []
        for asset in self._assets:
            asset.step(rng)
            assets.append(asset.update(now_ms))
        self.latest_assets = {a.s: a for a in assets}

        events: list[ContractInfoUpdate] = []
        # Resends of an earlier frame byte for byte: they keep their event time.
        verbatim: list[bool] = []
        while self._pending and self._pending[0][0] <= self.ticks:
            _, _, kind, arg = heapq.heappop(self._pending)
            produced = self._follow_up(kind, arg)
            events.extend(produced)
            verbatim.extend(e is arg for e in produced)
        if self.ticks >= self._next_event_tick:
            produced = self._random_event()
            events.extend(produced)
            verbatim.extend(False for _ in produced)
            self._next_event_tick = self.ticks + self._rng.randint(*self.EVENT_GAP)
        if self.ticks % 64 == 0:
            self._purge()
        events = self._in_order(events, verbatim)
        for event in events:
            self._recent.append(event)
        return Tick(now_ms, assets, events)

    def _in_order(
        self, events: list[ContractInfoUpdate], verbatim: list[bool]
    ) -> list[ContractInfoUpdate]:
        """Event times that only go forward per symbol, as on the exchange.

        Events of one tick draw their times independently, so a symbol's
        second event could carry an earlier time than its first; a client
        that keeps the newest event per symbol (and so drops resends) would
        rightly drop it. Verbatim resends keep their time: they are the
        duplicates such a client must drop.
        """
        last = self._last_event_ms
        out = []
        for event, same in zip(events, verbatim, strict=True):
            previous = last.get(event.s)
            event_ms = event.E
            if previous is not None and event_ms <= previous and not same:
                event_ms = previous + 1
                event = msgspec.structs.replace(event, E=event_ms)
            if previous is None or event_ms > previous:
                last[event.s] = event_ms
            out.append(event)
        return out

    def run(self, count: int, *, start_ms: int | None = None) -> Iterable[Tick]:
        """``count`` ticks one interval apart (for recordings and benchmarks)."""
        t = self.now_ms + self.interval_ms if start_ms is None else start_ms
        for _ in range(count):
            yield self.tick(t)
            t += self.interval_ms

    # --- universe -----------------------------------------------------

    def _synthetic_name(self, rng: random.Random) -> str:
        while True:
            n = rng.choice((3, 4, 4, 5, 6))
            name = "".join(rng.choice(CONSONANTS if k % 2 == 0 else VOWELS) for k in range(n))
            if rng.random() < 0.08:
                name = "1000" + name
            if name not in self._names:
                return name

    def _add(self, contract: Contract) -> Contract:
        self.contracts[contract.symbol] = contract
        self._symbols.append(contract.symbol)
        self._names.add(contract.symbol)
        self._names.add(contract.base)
        return contract

    @staticmethod
    def _first_cap(kind: str, rng: random.Random, market: int) -> int:
        if market == CM:
            # COIN-M notionals are in coin terms: much smaller numbers.
            return rng.choice((5, 10, 20, 50))
        return {
            "major": rng.choice((300_000, 400_000)),
            "large": rng.choice((10_000, 25_000, 50_000)),
            "mid": rng.choice((5_000, 10_000, 20_000)),
            "small": rng.choice((5_000, 10_000, 25_000)),
            "quarter": rng.choice((50_000, 100_000)),
        }[kind]

    def _ladder(self, kind: str, rng: random.Random, market: int = UM) -> list[Rung]:
        return ladder_rungs(kind, self._first_cap(kind, rng, market))

    def _build_universe(self, rng: random.Random, target: int) -> None:
        start = self.start_ms
        quarters_um = quarter_deliveries(start + 7 * _DAY_MS, 2)
        # USDC perpetuals, quarterlies (2 pairs x 2 markets x 2), TradFi, ETHBTC, COIN-M perpetuals.
        extra = len(LARGE) + 8 + 3 + 1 + len(CM_BASES)
        n_usdt = max(target - extra, 20)
        bases: list[str] = []
        for b in BASES:
            if b not in bases:
                bases.append(b)
        self._names.update(bases)
        while len(bases) < n_usdt:
            name = self._synthetic_name(rng)
            bases.append(name)
            self._names.add(name)
        bases = bases[:n_usdt]

        last_listing = start - 7 * _DAY_MS
        pending_from = int(n_usdt * 0.95)
        for idx, base in enumerate(bases):
            frac = idx / max(1, n_usdt - 1)
            ot = FIRST_LISTING_MS + int((last_listing - FIRST_LISTING_MS) * frac**1.3)
            ot -= ot % _HALF_HOUR_MS
            if idx < 4:
                ot = FIRST_LISTING_MS
            kind = "major" if base in ("BTC", "ETH") else "large" if base in LARGE else "mid"
            if kind == "mid" and idx > n_usdt * 0.45:
                kind = "small"
            status, dt, underlying = "TRADING", PERPETUAL_DELIVERY_MS, "COIN"
            if base in ("BTCDOM", "DEFI"):
                underlying = "INDEX"
            if idx >= pending_from:
                # Newest listings: announced, not trading yet.
                status = "PENDING_TRADING"
                ot = start + rng.randint(1, 96) * _HALF_HOUR_MS
                if rng.random() < 0.3:
                    underlying = "PREMARKET"
            elif base not in LARGE and idx > 40 and rng.random() < 0.08:
                # Delisted perpetuals keep their real delist time in dt.
                status = "SETTLING"
                dt = rng.randint(ot + 30 * _DAY_MS, max(ot + 31 * _DAY_MS, start - _DAY_MS))
                dt -= dt % _HOUR_MS
            self._add(
                Contract(
                    symbol=f"{base}USDT",
                    pair=f"{base}USDT",
                    contract_type="PERPETUAL",
                    delivery_ms=dt,
                    onboard_ms=ot,
                    status=status,
                    base=base,
                    quote="USDT",
                    margin="USDT",
                    underlying=underlying,
                    market=UM,
                    rungs=self._ladder(kind, rng),
                    subtypes=rng.choice(SUBTYPES),
                )
            )

        usdc_from = 1704067200000  # 2024-01-01
        for idx, base in enumerate([b for b in bases if b in LARGE]):
            ot = usdc_from + idx * 7 * _DAY_MS
            self._add(
                Contract(
                    symbol=f"{base}USDC",
                    pair=f"{base}USDC",
                    contract_type="PERPETUAL",
                    delivery_ms=PERPETUAL_DELIVERY_MS,
                    onboard_ms=ot,
                    status="TRADING",
                    base=base,
                    quote="USDC",
                    margin="USDC",
                    underlying="COIN",
                    market=UM,
                    rungs=self._ladder("mid", rng),
                )
            )

        for base in ("BTC", "ETH"):
            self._quarters[f"{base}USDT"] = list(quarters_um)
            self._quarters[f"{base}USD"] = list(quarters_um)
            for pair, market, quote, margin in (
                (f"{base}USDT", UM, "USDT", "USDT"),
                (f"{base}USD", CM, "USD", base),
            ):
                for ct, dt in zip(("CURRENT_QUARTER", "NEXT_QUARTER"), quarters_um, strict=True):
                    self._add(
                        self._quarterly(pair, ct, dt, "TRADING", base, quote, margin, market, rng)
                    )

        for base, underlying, onboard in (
            ("XAU", "COMMODITY", 1765180800000),
            ("XAG", "COMMODITY", 1765785600000),
            ("TSLA", "EQUITY", 1766390400000),
        ):
            self._add(
                Contract(
                    symbol=f"{base}USDT",
                    pair=f"{base}USDT",
                    contract_type="TRADIFI_PERPETUAL",
                    delivery_ms=PERPETUAL_DELIVERY_MS,
                    onboard_ms=onboard,
                    status="TRADING",
                    base=base,
                    quote="USDT",
                    margin="USDT",
                    underlying=underlying,
                    market=UM,
                    rungs=self._ladder("small", rng),
                )
            )
        self._add(
            Contract(
                symbol="ETHBTC",
                pair="ETHBTC",
                contract_type="PERPETUAL",
                delivery_ms=PERPETUAL_DELIVERY_MS,
                onboard_ms=1659945600000,
                status="TRADING",
                base="ETH",
                quote="BTC",
                margin="BTC",
                underlying="COIN",
                market=UM,
                rungs=[(lev, mmr, cap // 1000) for lev, mmr, cap in self._ladder("mid", rng)],
            )
        )
        for idx, base in enumerate(CM_BASES):
            self._add(
                Contract(
                    symbol=f"{base}USD_PERP",
                    pair=f"{base}USD",
                    contract_type="PERPETUAL",
                    delivery_ms=PERPETUAL_DELIVERY_MS,
                    onboard_ms=1597651200000 + idx * 14 * _DAY_MS,
                    status="TRADING",
                    base=base,
                    quote="USD",
                    margin=base,
                    underlying="COIN",
                    market=CM,
                    rungs=self._ladder("large" if base in LARGE else "mid", rng, CM),
                )
            )

    def _quarterly(
        self,
        pair: str,
        contract_type: str,
        delivery_ms: int,
        status: str,
        base: str,
        quote: str,
        margin: str,
        market: int,
        rng: random.Random,
    ) -> Contract:
        # Quarterlies are listed about half a year before delivery.
        onboard = delivery_ms - 182 * _DAY_MS
        onboard -= onboard % _HOUR_MS
        return Contract(
            symbol=f"{pair}_{delivery_suffix(delivery_ms)}",
            pair=pair,
            contract_type=contract_type,
            delivery_ms=delivery_ms,
            onboard_ms=onboard,
            status=status,
            base=base,
            quote=quote,
            margin=margin,
            underlying="COIN",
            market=market,
            rungs=self._ladder("quarter", rng, market),
        )

    # --- events -------------------------------------------------------

    def _event_ms(self) -> int:
        # The event happened during the period that just ended.
        return self.now_ms - self._rng.randrange(0, max(1, self.interval_ms // 2))

    def _schedule(self, delay_ticks: int, kind: str, arg: object) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (self.ticks + max(1, delay_ticks), self._seq, kind, arg))

    def _pick(self, statuses: frozenset[str], *, perpetual_only: bool = False) -> Contract | None:
        # Rejection sampling: most symbols qualify, and this avoids a scan per event.
        symbols = self._symbols
        for _ in range(50):
            contract = self.contracts.get(symbols[self._rng.randrange(len(symbols))])
            if (
                contract is not None
                and contract.status in statuses
                and (not perpetual_only or contract.contract_type == "PERPETUAL")
            ):
                return contract
        return None

    def _random_event(self) -> list[ContractInfoUpdate]:
        handlers = {
            "list": self._list,
            "delist": self._delist,
            "leverage": self._change_leverage,
            "cap": self._change_cap,
            "split": self._split_bracket,
            "duplicate": self._duplicate,
            "roll": self._roll,
        }
        # A kind can find nothing to act on (no room for another bracket, say):
        # try another, so that something does happen every few seconds.
        for _ in range(5):
            kind = self._rng.choices(self._kinds, self._weights)[0]
            if kind == "roll" and self.ticks - self._last_roll_tick < self.ROLL_COOLDOWN_TICKS:
                kind = "leverage"
            events = handlers[kind]()
            if events or (kind == "duplicate" and self._recent):
                return events
        return []

    def _list(self) -> list[ContractInfoUpdate]:
        rng = self._rng
        base = self._synthetic_name(rng)
        roll = rng.random()
        if roll < 0.85:
            symbol = pair = f"{base}USDT"
            quote = margin = "USDT"
            market = UM
        elif roll < 0.95:
            symbol = pair = f"{base}USDC"
            quote = margin = "USDC"
            market = UM
        else:
            symbol, pair, quote, margin, market = f"{base}USD_PERP", f"{base}USD", "USD", base, CM
        delay = rng.randint(8, 30)
        onboard = self.now_ms + delay * self.interval_ms
        contract = self._add(
            Contract(
                symbol=symbol,
                pair=pair,
                contract_type="PERPETUAL",
                delivery_ms=PERPETUAL_DELIVERY_MS,
                onboard_ms=onboard,
                status="PENDING_TRADING",
                base=base,
                quote=quote,
                margin=margin,
                underlying="COIN",
                market=market,
                rungs=self._ladder(rng.choice(("mid", "small", "small")), rng, market),
            )
        )
        if rng.random() < 0.4:
            # Real quirk: brackets published while still PENDING_TRADING.
            self._schedule(rng.randint(1, delay - 1), _PENDING_BRACKETS, symbol)
        # Goes live at the onboard time, as the exchange does (0.3-12 s late).
        self._schedule(delay + 1, _GO_LIVE, symbol)
        return [contract.frame(self._event_ms())]

    def _delist(self) -> list[ContractInfoUpdate]:
        contract = self._pick(frozenset({"TRADING"}), perpetual_only=True)
        if contract is None or contract.base in ("BTC", "ETH"):
            return []
        contract.status = "SETTLING"
        event_ms = self._event_ms()
        contract.delivery_ms = event_ms - event_ms % self.interval_ms
        contract.gone_tick = self.ticks
        return [contract.frame(event_ms)]

    def _bracket_event(self, contract: Contract, rungs: list[Rung]) -> list[ContractInfoUpdate]:
        contract.set_rungs(rungs)
        return [contract.frame(self._event_ms(), with_brackets=True)]

    def _change_leverage(self) -> list[ContractInfoUpdate]:
        contract = self._pick(LIVE)
        if contract is None:
            return []
        rungs = list(contract.rungs)
        k = self._rng.randrange(len(rungs) - 1) if len(rungs) > 1 else 0
        lev = rungs[k][0]
        lo = rungs[k + 1][0] + 1 if k + 1 < len(rungs) else 1
        if k == 0:
            choices = [x for x in (10, 15, 20, 25, 50, 75, 100, 125) if x >= lo and x != lev]
        else:
            hi = rungs[k - 1][0] - 1
            choices = [x for x in range(lo, hi + 1) if x != lev]
        if not choices:
            return []
        rungs[k] = (self._rng.choice(choices), rungs[k][1], rungs[k][2])
        return self._bracket_event(contract, rungs)

    def _change_cap(self) -> list[ContractInfoUpdate]:
        contract = self._pick(LIVE)
        if contract is None:
            return []
        rungs = list(contract.rungs)
        k = self._rng.randrange(len(rungs))
        lo = rungs[k - 1][2] if k else 0
        cap = rungs[k][2]
        hi = rungs[k + 1][2] if k + 1 < len(rungs) else cap * 2
        choices = nice_between(lo, hi, cap)
        if not choices:
            return []
        rungs[k] = (rungs[k][0], rungs[k][1], self._rng.choice(choices))
        return self._bracket_event(contract, rungs)

    def _split_bracket(self) -> list[ContractInfoUpdate]:
        contract = self._pick(LIVE)
        if contract is None:
            return []
        rungs = list(contract.rungs)
        spots = []
        for k in range(len(rungs) - 1):
            lo_cap, hi_cap = rungs[k][2], rungs[k + 1][2]
            if rungs[k][0] - rungs[k + 1][0] >= 2 and nice_between(lo_cap, hi_cap, -1):
                spots.append(k)
        if not spots:
            return []
        k = self._rng.choice(spots)
        (lev_a, mmr_a, cap_a), (lev_b, mmr_b, _) = rungs[k], rungs[k + 1]
        # The new bracket sits between its neighbours in every respect.
        new_lev = (lev_a + lev_b) // 2
        new_mmr = plain((mmr_a + mmr_b) / 2)
        rungs[k + 1 : k + 1] = [(new_lev, new_mmr, cap_a)]
        # It takes over the lower part of the next bracket's range.
        new_cap = self._rng.choice(nice_between(cap_a, rungs[k + 2][2], -1))
        rungs[k + 1] = (new_lev, new_mmr, new_cap)
        return self._bracket_event(contract, rungs)

    def _duplicate(self) -> list[ContractInfoUpdate]:
        if self._recent:
            # The exchange resends frames seconds apart, sometimes byte for byte.
            self._schedule(self._rng.randint(2, 5), _RESEND, self._recent[-1])
        return []

    def _roll(self) -> list[ContractInfoUpdate]:
        pair = self._rng.choice(sorted(self._quarters))
        current, following = self._quarters[pair]
        old = self.contracts.get(f"{pair}_{delivery_suffix(current)}")
        nxt = self.contracts.get(f"{pair}_{delivery_suffix(following)}")
        if old is None or nxt is None or nxt.status != "TRADING":
            return []
        self._last_roll_tick = self.ticks
        old.status = "DELIVERING"
        # Real quirk: the contract type of a delivering quarterly has a space in it.
        old.contract_type = "CURRENT_QUARTER DELIVERING"
        nxt.contract_type = "CURRENT_QUARTER"
        later = quarter_deliveries(following, 1)[0]
        self._quarters[pair] = [following, later]
        self._schedule(self._rng.randint(4, 8), _DELIVERED, old.symbol)
        self._schedule(self._rng.randint(2, 6), _LIST_QUARTER, (pair, later))
        event_ms = self._event_ms()
        return [old.frame(event_ms), nxt.frame(event_ms)]

    def _follow_up(self, kind: str, arg: object) -> list[ContractInfoUpdate]:
        if kind == _RESEND:
            assert isinstance(arg, ContractInfoUpdate)
            if self._rng.random() < 0.5:
                return [arg]
            # Same content, a later event time (as seen live, 5 s apart).
            return [msgspec.structs.replace(arg, E=self._event_ms())]
        if kind == _LIST_QUARTER:
            assert isinstance(arg, tuple)
            pair, delivery = arg
            template = next(
                (
                    c
                    for c in self.contracts.values()
                    if c.pair == pair and "QUARTER" in c.contract_type
                ),
                None,
            )
            if template is None:
                return []
            quarterly = self._add(
                self._quarterly(
                    pair,
                    "NEXT_QUARTER",
                    delivery,
                    "PENDING_TRADING",
                    template.base,
                    template.quote,
                    template.margin,
                    template.market,
                    self._rng,
                )
            )
            quarterly.onboard_ms = self.now_ms + 10 * self.interval_ms
            self._schedule(11, _GO_LIVE, quarterly.symbol)
            return [quarterly.frame(self._event_ms())]
        assert isinstance(arg, str)
        contract = self.contracts.get(arg)
        if contract is None:
            return []
        if kind == _PENDING_BRACKETS:
            if contract.status != "PENDING_TRADING":
                return []
            return [contract.frame(self._event_ms(), with_brackets=True)]
        if kind == _GO_LIVE:
            if contract.status != "PENDING_TRADING":
                return []
            contract.status = "TRADING"
            # Never before the onboard time when that has already come (wall-clock time).
            event_ms = max(self._event_ms(), min(contract.onboard_ms, self.now_ms))
            return [contract.frame(event_ms)]
        if kind == _DELIVERED:
            contract.status = "DELIVERED"
            contract.gone_tick = self.ticks
            return [contract.frame(self._event_ms())]
        raise ValueError(f"unknown follow-up {kind!r}")

    def _purge(self) -> None:
        cutoff = self.ticks - self.PURGE_AFTER_TICKS
        stale = [
            s
            for s, c in self.contracts.items()
            if c.gone_tick is not None and c.gone_tick < cutoff and c.status in GONE
        ]
        for symbol in stale:
            del self.contracts[symbol]
            self._last_event_ms.pop(symbol, None)
        if stale:
            self._symbols = list(self.contracts)


# Importable from here too, where they were defined before the split.
__all__ = [
    "ASSETS",
    "CM",
    "DEFAULT_START_MS",
    "FIRST_LISTING_MS",
    "PERPETUAL_DELIVERY_MS",
    "UM",
    "AssetIndexUpdate",
    "AssetSpec",
    "BracketWire",
    "Contract",
    "ContractInfoUpdate",
    "Rung",
    "Scenario",
    "Tick",
    "build_brackets",
    "delivery_suffix",
    "encode",
    "ladder_rungs",
    "plain",
    "q8",
    "quarter_deliveries",
    "text8",
]
