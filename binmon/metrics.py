"""Prometheus metrics: what the streams and the contract book hold, as text exposition.

A consumer of the events (the asset index entries it is given, the changes of
the contract events) and, at scrape time, a reader of the stream statuses and
of the contract book. Updates per event are a dict store or a counter bump
(or, from the C accelerator, a list append of the frame's finished lines);
all formatting happens when someone scrapes, and a contract's lines are only
formatted again once the contract has changed (a contract changes a few times
a day; a scrape comes every few seconds), so one scrape of 700 contracts and
40 assets is a join of cached strings plus the 400 asset lines.

The text is written by hand rather than by ``prometheus_client``: its
``generate_latest`` needs 40-100 ms for these 4,600 series on the benchmark
machine, more than the 20 ms a scrape may take, where this takes 1-2 ms
(benchmarks/RESULTS.md, section 7); tests check the output with
``prometheus_client``'s parser and with a real Prometheus server.

No I/O here: :mod:`binmon.metrics_server` serves :meth:`Metrics.exposition`
and :meth:`Metrics.health` over HTTP.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Final, Protocol

from binmon.collateral import CollateralReport
from binmon.consumer import Consumer
from binmon.filters import Filters
from binmon.jsonl import decode_asset_lines
from binmon.protocol import ASSET_DECIMAL_FIELDS, BRACKET_NUMBER_FIELDS, AssetIndex, ContractInfo
from binmon.state import Change, Contract, ContractBook
from binmon.status import StreamStatus

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Status names (binmon.runner's kinds) to the SPEC's `stream` label values.
# Asset frames held as lines between two scrapes, at most: a scrape every few
# seconds reads a few; without scrapes, memory stays bounded all the same.
_PENDING_LIMIT: Final = 64

STREAM_LABELS: Final = {"asset index": "asset_index", "contract info": "contract_info"}
PERIODIC_STREAM: Final = "asset index"

# Every `field` a change can have (binmon.state): all start at 0, so that the
# first change of a kind is an increase Prometheus can see, not a new series.
CHANGE_FIELDS: Final = (
    "listed",
    "status",
    "pair",
    "contract_type",
    "delivery_time",
    "onboard_time",
    "bracket",
    *BRACKET_NUMBER_FIELDS,
)

ALERT_KINDS: Final = (
    "listing",
    "delisting",
    "status",
    "brackets",
    "leverage-cut",
    "position",
    "buffer",
    "feed",
)


class Alert(Protocol):
    """What the alerts feature publishes (binmon.alerts); only its kind is counted."""

    @property
    def kind(self) -> str: ...


# (name, help) of each family, in the order they are written.
_ASSET_HELP: Final = {
    "index_price": "Index price",
    "bid_buffer": "Bid buffer (haircut on a positive balance)",
    "ask_buffer": "Ask buffer (on a negative balance)",
    "bid_rate": "Bid rate (index price less the bid buffer)",
    "ask_rate": "Ask rate (index price plus the ask buffer)",
    "auto_exchange_bid_buffer": "Auto-exchange bid buffer",
    "auto_exchange_ask_buffer": "Auto-exchange ask buffer",
    "auto_exchange_bid_rate": "Auto-exchange bid rate",
    "auto_exchange_ask_rate": "Auto-exchange ask rate",
}
_ASSET_FAMILIES: Final = (
    *(
        (
            f"binmon_asset_{name}",
            f"{_ASSET_HELP[name]} of the latest asset index entry "
            "(the exchange's number, as a float).",
        )
        for name in ASSET_DECIMAL_FIELDS
    ),
    ("binmon_asset_event_timestamp_seconds", "Event time (E) of the latest asset index entry."),
)
_CONTRACT_FAMILIES: Final = (
    ("binmon_contract_status", "1 for the contract's current status (one series per symbol)."),
    (
        "binmon_contract_info",
        "1, with the contract's pair, type and market (st 1 = UM, 2 = CM) as labels "
        "(empty when unknown).",
    ),
    ("binmon_contract_onboard_timestamp_seconds", "When the contract was (or will be) listed."),
    (
        "binmon_contract_delivery_timestamp_seconds",
        "The contract's delivery time (4133404800 for a perpetual that is not being delisted).",
    ),
    ("binmon_contract_max_leverage", "Bracket 1's max leverage, when the brackets are known."),
    ("binmon_contract_brackets", "Number of known leverage brackets."),
)


def escape_label(value: str) -> str:
    """A label value as the text format wants it (backslash, quote and newline escaped)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def number_value(text: str) -> str:
    """The exchange's number text as a sample value.

    The exact digits when Prometheus parses them as they are (it reads them as a
    float64 anyway); through float only for exponents and absurd lengths, which
    could overflow and would make Prometheus reject the whole scrape.
    """
    if len(text) < 40 and "e" not in text and "E" not in text:
        return text
    return float_value(float(text))


def float_value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def ms_value(ms: int) -> str:
    """Epoch milliseconds as seconds, exactly."""
    seconds, millis = divmod(ms, 1000)
    return f"{seconds}.{millis:03d}" if millis else f"{seconds}"


def decimal_value(value: Decimal) -> str:
    # Exact decimal text, never in exponent notation unless it has to be.
    text = format(value, "f")
    return number_value(text) if len(text) < 40 else float_value(float(value))


def contract_wanted(filters: Filters) -> Callable[[Contract], bool] | None:
    """The run's contract filters, applied to what the book knows of a contract (None: all)."""
    if filters == Filters():
        return None

    def wanted(contract: Contract) -> bool:
        if not filters.symbol_ok(contract.symbol):
            return False
        if filters.statuses and (contract.status or "").upper() not in filters.statuses:
            return False
        if filters.types and (contract.contract_type or "").upper() not in filters.types:
            return False
        return not (filters.market and (contract.market or "UM") != filters.market)

    return wanted


class _ContractLines:
    """One contract's sample lines, one per contract family (None: no sample)."""

    __slots__ = ("key", "lines")

    def __init__(self, key: tuple[object, ...], lines: tuple[str | None, ...]) -> None:
        self.key = key
        self.lines = lines


def _contract_key(c: Contract) -> tuple[object, ...]:
    # The brackets dict is replaced, never mutated, by ContractBook: equal
    # keys mean equal lines (tuples compare members by identity first: cheap).
    return (
        c.status,
        c.pair,
        c.contract_type,
        c.market,
        c.onboard_time,
        c.delivery_time,
        c.brackets,
    )


def _contract_lines(c: Contract) -> tuple[str | None, ...]:
    symbol = f'symbol="{escape_label(c.symbol)}"'
    status = (
        None
        if c.status is None
        else f'binmon_contract_status{{{symbol},status="{escape_label(c.status)}"}} 1\n'
    )
    info = (
        f"binmon_contract_info{{{symbol},"
        f'pair="{escape_label(c.pair or "")}",'
        f'contract_type="{escape_label(c.contract_type or "")}",'
        f'market="{escape_label(c.market or "")}"}} 1\n'
    )
    onboard = (
        None
        if c.onboard_time is None
        else f"binmon_contract_onboard_timestamp_seconds{{{symbol}}} {ms_value(c.onboard_time)}\n"
    )
    delivery = (
        None
        if c.delivery_time is None
        else f"binmon_contract_delivery_timestamp_seconds{{{symbol}}} {ms_value(c.delivery_time)}\n"
    )
    first = c.brackets.get(1) if c.brackets else None
    leverage = (
        None
        if first is None or first.max_leverage is None
        else f"binmon_contract_max_leverage{{{symbol}}} {number_value(first.max_leverage)}\n"
    )
    count = f"binmon_contract_brackets{{{symbol}}} {len(c.brackets or ())}\n"
    return (status, info, onboard, delivery, leverage, count)


def _asset_lines(event: AssetIndex) -> tuple[str, ...]:
    symbol = f'{{symbol="{escape_label(event.symbol)}"}} '
    lines = [
        f"{name}{symbol}{number_value(getattr(event, field))}\n"
        for (name, _), field in zip(_ASSET_FAMILIES[:-1], ASSET_DECIMAL_FIELDS, strict=True)
    ]
    lines.append(f"binmon_asset_event_timestamp_seconds{symbol}{ms_value(event.event_time)}\n")
    return tuple(lines)


class Metrics(Consumer):
    """Consumer of a run's events, and the exposition of everything a run knows.

    ``statuses`` are the run's stream statuses keyed by kind (``"asset index"``,
    ``"contract info"``): only the streams the command runs. ``book`` is the
    run's contract book. ``filters`` are the run's: the feed narrows the
    events with them, and here they narrow what the book and the REST
    snapshot hold the same way. Times: ``clock`` is the statuses' monotonic
    clock, ``wall`` the epoch clock the timestamps are written in.
    """

    def __init__(
        self,
        statuses: Mapping[str, StreamStatus],
        book: ContractBook,
        *,
        stale_after: float = 10.0,
        filters: Filters | None = None,
        alert_kinds: Iterable[str] = (),
        collateral: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.statuses = statuses
        self.book = book
        self.stale_after = stale_after
        self.filters = filters or Filters()
        self.wanted = contract_wanted(self.filters)
        self.clock = clock
        self.wall = wall
        self.changes: dict[str, int] = dict.fromkeys(CHANGE_FIELDS, 0)
        kinds = tuple(alert_kinds)
        # Every kind asked for starts at 0 (as the changes do); none asked: no family.
        self.alerts: dict[str, int] | None = (
            dict.fromkeys(ALERT_KINDS if "all" in kinds else kinds, 0) if kinds else None
        )
        self.collateral_enabled = collateral
        self._collateral: CollateralReport | None = None
        # The latest entry per asset, and its lines (formatted at the first scrape that needs them).
        self._assets: dict[str, AssetIndex] = {}
        # Asset frames as finished JSON lines, not read yet (see asset_lines).
        self._pending_lines: list[bytes] = []
        self._asset_cache: dict[str, tuple[AssetIndex, tuple[str, ...]]] = {}
        self._contract_cache: dict[str, _ContractLines] = {}

    # -- consumer hooks (cheap: called per event) ---------------------------

    # The REST asset index a live run can start from: values before the first frame.
    wants_asset_snapshot = True
    # Finished JSON lines will do: kept as they come and read back only when
    # someone scrapes, so that `assets --json --metrics` keeps the C accelerator.
    takes_encoded_assets = True

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        latest = self._assets
        for event in events:
            latest[event.symbol] = event

    def asset_lines(self, data: bytes) -> None:
        pending = self._pending_lines
        pending.append(data)
        if len(pending) >= _PENDING_LIMIT:
            self._read_pending()

    def _read_pending(self) -> None:
        pending, self._pending_lines = self._pending_lines, []
        latest = self._assets
        for data in pending:
            for event in decode_asset_lines(data):
                latest[event.symbol] = event

    def asset_snapshot(self, events: list[AssetIndex]) -> None:
        self._read_pending()
        latest = self._assets
        symbol_ok = self.filters.symbol_ok
        for event in events:
            if not symbol_ok(event.symbol):
                continue
            known = latest.get(event.symbol)
            # The stream may already have delivered something newer.
            if known is None or known.event_time < event.event_time:
                latest[event.symbol] = event

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        counts = self.changes
        for change in changes:
            counts[change.field] = counts.get(change.field, 0) + 1

    def alert(self, alert: Alert) -> None:
        if self.alerts is None:
            self.alerts = {}
        self.alerts[alert.kind] = self.alerts.get(alert.kind, 0) + 1

    def collateral(self, report: CollateralReport) -> None:
        self._collateral = report
        self.collateral_enabled = True

    # -- health ------------------------------------------------------------

    def stream_up(self, kind: str, status: StreamStatus, now: float) -> bool:
        """Connected and delivering: the periodic stream within ``stale_after``."""
        if status.state != "connected":
            return False
        if kind != PERIODIC_STREAM:
            # An event-driven stream may be quiet for hours: its heartbeat is the proof.
            return True
        silent = None if status.last_message_at is None else now - status.last_message_at
        return silent is not None and silent < self.stale_after

    def health(self) -> str | None:
        """None when every stream is up, else one line saying why not."""
        now = self.clock()
        problems = []
        for kind, status in self.statuses.items():
            if self.stream_up(kind, status, now):
                continue
            problems.append(f"{kind}: {self._why_down(kind, status, now)}")
        return "; ".join(problems) if problems else None

    def _why_down(self, kind: str, status: StreamStatus, now: float) -> str:
        if status.state == "connected" and kind == PERIODIC_STREAM:
            if status.last_message_at is None:
                waited = status.silent_for(now)
                return (
                    "connected, no data yet"
                    if waited is None
                    else f"connected, no data in {waited:.1f}s"
                )
            return (
                f"no data for {now - status.last_message_at:.1f}s "
                f"(stale after {self.stale_after:g}s)"
            )
        reason = f" ({status.reason})" if status.reason else ""
        return " ".join(f"{status.state}{reason}".split())  # one line, whatever the reason held

    # -- exposition ----------------------------------------------------------

    def exposition(self) -> bytes:
        self._read_pending()
        out: list[str] = []
        self._write_assets(out)
        self._write_contracts(out)
        self._write_streams(out)
        self._write_derived(out)
        _write_process(out)
        # Strings from the network may hold lone surrogates; never fail a scrape on them.
        return "".join(out).encode("utf-8", "replace")

    def _write_assets(self, out: list[str]) -> None:
        cache = self._asset_cache
        rows = []
        for symbol in sorted(self._assets):
            event = self._assets[symbol]
            cached = cache.get(symbol)
            if cached is None or cached[0] is not event:
                cached = cache[symbol] = (event, _asset_lines(event))
            rows.append(cached[1])
        for i, (name, help_text) in enumerate(_ASSET_FAMILIES):
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
            out.extend(row[i] for row in rows)

    def _write_contracts(self, out: list[str]) -> None:
        cache = self._contract_cache
        wanted = self.wanted
        contracts = self.book.contracts
        rows = []
        for symbol in sorted(contracts):
            contract = contracts[symbol]
            if wanted is not None and not wanted(contract):
                continue
            key = _contract_key(contract)
            cached = cache.get(symbol)
            if cached is None or cached.key != key:
                cached = cache[symbol] = _ContractLines(key, _contract_lines(contract))
            rows.append(cached.lines)
        for i, (name, help_text) in enumerate(_CONTRACT_FAMILIES):
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
            out.extend(line for row in rows if (line := row[i]) is not None)
        out.append(
            "# HELP binmon_contract_changes_total Changes seen in contract events, by the "
            "`field` of their `changes` entries.\n"
            "# TYPE binmon_contract_changes_total counter\n"
        )
        out.extend(
            f'binmon_contract_changes_total{{field="{escape_label(field)}"}} {count}\n'
            for field, count in self.changes.items()
        )

    def _write_streams(self, out: list[str]) -> None:
        now, wall = self.clock(), self.wall()
        streams = [
            (STREAM_LABELS.get(kind, kind), kind, status) for kind, status in self.statuses.items()
        ]
        families: tuple[tuple[str, str, str, Callable[[str, StreamStatus], str | None]], ...] = (
            (
                "binmon_stream_up",
                "gauge",
                "1 when the stream is connected and delivering (the asset index within "
                "--stale-after), else 0.",
                lambda kind, s: "1" if self.stream_up(kind, s, now) else "0",
            ),
            (
                "binmon_stream_messages_total",
                "counter",
                "Messages received on the stream.",
                lambda kind, s: str(s.messages),
            ),
            (
                "binmon_stream_malformed_total",
                "counter",
                "Malformed messages skipped.",
                lambda kind, s: str(s.malformed),
            ),
            (
                "binmon_stream_reconnects_total",
                "counter",
                "Reconnections of the stream.",
                lambda kind, s: str(s.reconnects),
            ),
            (
                "binmon_stream_last_message_timestamp_seconds",
                "gauge",
                "When the stream's last message was received.",
                lambda kind, s: (
                    None
                    if s.last_message_at is None
                    else float_value(round(wall - (now - s.last_message_at), 3))
                ),
            ),
        )
        for name, kind_of_metric, help_text, value in families:
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind_of_metric}\n")
            for label, kind, status in streams:
                sample = value(kind, status)
                if sample is not None:
                    out.append(f'{name}{{stream="{escape_label(label)}"}} {sample}\n')

    def _write_derived(self, out: list[str]) -> None:
        if self.collateral_enabled:
            out.append(
                "# HELP binmon_collateral_value Collateral value of a held asset "
                "(quantity x bid rate, or x ask rate when negative).\n"
                "# TYPE binmon_collateral_value gauge\n"
            )
            report = self._collateral
            if report is not None:
                out.extend(
                    f'binmon_collateral_value{{asset="{escape_label(a.asset)}"}} '
                    f"{decimal_value(a.value)}\n"
                    for a in report.assets
                    if a.value is not None
                )
            out.append(
                "# HELP binmon_collateral_total_value Sum of the collateral values.\n"
                "# TYPE binmon_collateral_total_value gauge\n"
            )
            if report is not None:
                out.append(f"binmon_collateral_total_value {decimal_value(report.total_value)}\n")
        if self.alerts is not None:
            out.append(
                "# HELP binmon_alerts_total Alerts raised, by kind.\n"
                "# TYPE binmon_alerts_total counter\n"
            )
            out.extend(
                f'binmon_alerts_total{{kind="{escape_label(kind)}"}} {count}\n'
                for kind, count in self.alerts.items()
            )


_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@functools.cache
def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        return next(float(line.split()[1]) for line in f if line.startswith(b"btime "))


def _write_process(out: list[str]) -> None:
    """The standard ``process_*`` families (as every Prometheus client library names them).

    For binmon itself, run for weeks: memory, CPU and descriptors over time.
    From /proc where there is one, else what ``resource`` knows.
    """
    families: list[tuple[str, str, str, float]] = []
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        boot = _boot_time()
        # After the command name: utime, stime, starttime, vsize, rss are fields 14, 15, 22, 23, 24.
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        start = boot + int(fields[19]) / _TICKS
        families += [
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                float(fields[20]),
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                float(int(fields[21]) * _PAGE_SIZE),
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since the epoch.",
                start,
            ),
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                float(len(os.listdir("/proc/self/fd"))),
            ),
        ]
    except (OSError, ValueError, IndexError, StopIteration):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
    families.insert(
        0,
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            cpu,
        ),
    )
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        families.append(
            ("process_max_fds", "gauge", "Maximum number of open file descriptors.", float(soft))
        )
    for name, kind, help_text, value in families:
        out.append(
            f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {float_value(value)}\n"
        )
