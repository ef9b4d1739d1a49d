"""The metrics' text: every SPEC family, exact values, bounded series, health in words."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from binmon.collateral import AssetValue, CollateralReport, Holding
from binmon.filters import Filters
from binmon.metrics import (
    CHANGE_FIELDS,
    Metrics,
    escape_label,
    ms_value,
    number_value,
)
from binmon.protocol import AssetIndex, Bracket, ContractInfo
from binmon.state import Contract, ContractBook
from binmon.status import StreamStatus

# SPEC "Metrics (Prometheus)": every family and its labels.
SPEC_FAMILIES = {
    "binmon_asset_index_price": ("symbol",),
    "binmon_asset_bid_buffer": ("symbol",),
    "binmon_asset_ask_buffer": ("symbol",),
    "binmon_asset_bid_rate": ("symbol",),
    "binmon_asset_ask_rate": ("symbol",),
    "binmon_asset_auto_exchange_bid_buffer": ("symbol",),
    "binmon_asset_auto_exchange_ask_buffer": ("symbol",),
    "binmon_asset_auto_exchange_bid_rate": ("symbol",),
    "binmon_asset_auto_exchange_ask_rate": ("symbol",),
    "binmon_asset_event_timestamp_seconds": ("symbol",),
    "binmon_contract_status": ("symbol", "status"),
    "binmon_contract_info": ("symbol", "pair", "contract_type", "market"),
    "binmon_contract_onboard_timestamp_seconds": ("symbol",),
    "binmon_contract_delivery_timestamp_seconds": ("symbol",),
    "binmon_contract_max_leverage": ("symbol",),
    "binmon_contract_brackets": ("symbol",),
    "binmon_contract_changes_total": ("field",),
    "binmon_stream_up": ("stream",),
    "binmon_stream_messages_total": ("stream",),
    "binmon_stream_malformed_total": ("stream",),
    "binmon_stream_reconnects_total": ("stream",),
    "binmon_stream_last_message_timestamp_seconds": ("stream",),
    "binmon_collateral_value": ("asset",),
    "binmon_collateral_total_value": (),
    "binmon_alerts_total": ("kind",),
}
COUNTERS = {
    "binmon_contract_changes_total",
    "binmon_stream_messages_total",
    "binmon_stream_malformed_total",
    "binmon_stream_reconnects_total",
    "binmon_alerts_total",
}


def asset(
    symbol: str = "BTCUSD", time: int = 1_700_000_000_123, price: str = "87444.54032684"
) -> AssetIndex:
    return AssetIndex(
        symbol=symbol,
        event_time=time,
        index_price=price,
        bid_buffer="0.05000000",
        ask_buffer="0.05000000",
        bid_rate="83072.31331050",
        ask_rate="91816.76734318",
        auto_exchange_bid_buffer="0.02500000",
        auto_exchange_ask_buffer="0.02500000",
        auto_exchange_bid_rate="85258.42682867",
        auto_exchange_ask_rate="89630.65382501",
    )


def bracket(n: int, max_leverage: str = "125") -> Bracket:
    return Bracket(n, str((n - 1) * 50000), str(n * 50000), "0.004", "0", "1", max_leverage)


def contract_event(
    symbol: str = "BTCUSDT", time: int = 2, status: str = "TRADING", **fields: object
) -> ContractInfo:
    base: dict[str, object] = {
        "pair": symbol,
        "contract_type": "PERPETUAL",
        "delivery_time": 4133404800000,
        "onboard_time": 1569398400000,
        "market": "UM",
        "brackets": None,
    }
    base.update(fields)
    return ContractInfo(symbol=symbol, event_time=time, status=status, **base)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def connected(name: str, clock: Clock, last_message: float | None = None) -> StreamStatus:
    status = StreamStatus(name, state="connected", connected_since=clock.now - 60)
    status.last_message_at = last_message
    return status


def statuses(clock: Clock) -> dict[str, StreamStatus]:
    return {
        "asset index": connected("asset index", clock, clock.now - 0.5),
        "contract info": connected("contract info", clock, clock.now - 30),
    }


def parse(metrics: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Family name -> samples, read by prometheus_client's own parser."""
    text = metrics.exposition().decode()
    found: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        samples = found.setdefault(family.name, [])
        samples.extend((s.name, s.labels, s.value) for s in family.samples)
    return found


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = metrics.exposition().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


@dataclass
class Raised:
    kind: str


def full_metrics() -> Metrics:
    clock = Clock()
    book = ContractBook()
    book.seed([Contract("ETHUSDT", "ETHUSDT", "PERPETUAL", "TRADING", 4133404800000, 1, "UM")])
    metrics = Metrics(
        statuses(clock), book, alert_kinds=("listing",), clock=clock, wall=lambda: 2e9
    )
    metrics.assets([asset()], None)
    event = contract_event(brackets=[bracket(1), bracket(2, "100")])
    metrics.contract(event, book.apply(event), None)
    held = AssetValue(Holding("BTC", Decimal("0.5")), value_text="41536.156655250")
    metrics.collateral(CollateralReport(1, (held,), "41536.15665525", "0"))
    metrics.alert(Raised("listing"))
    return metrics


def test_every_spec_family_with_its_labels_help_and_type() -> None:
    metrics = full_metrics()
    text = metrics.exposition().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, labels in SPEC_FAMILIES.items():
        base = name.removesuffix("_total") if name in COUNTERS else name
        assert base in families, name
        family = families[base]
        assert family.type == ("counter" if name in COUNTERS else "gauge"), name
        assert family.documentation, name
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text
        wanted = [s for s in family.samples if s.name == name]
        assert wanted, name
        for sample in wanted:
            assert tuple(sorted(sample.labels)) == tuple(sorted(labels)), name
    # Nothing outside the SPEC's names, and one prefix for all, but the standard
    # process_* families of every Prometheus client library.
    ours = {n for n in families if not n.startswith("process_")}
    assert ours <= {n.removesuffix("_total") for n in SPEC_FAMILIES}


def test_process_families_describe_binmon_itself() -> None:
    import os
    import time

    values = {
        name: value
        for samples in parse(Metrics({}, ContractBook())).values()
        for (name, _, value) in samples
        if name.startswith("process_")
    }
    assert 1_000_000 < values["process_resident_memory_bytes"] < 10_000_000_000
    assert 0 < values["process_cpu_seconds_total"] < time.process_time() + 1
    assert abs(values["process_open_fds"] - len(os.listdir("/proc/self/fd"))) <= 2
    assert time.time() - 3600 < values["process_start_time_seconds"] <= time.time()


def test_values_are_the_exchange_numbers_and_times_are_seconds() -> None:
    metrics = full_metrics()
    text = metrics.exposition().decode()
    # The digits as sent (Prometheus reads them as a float64 anyway).
    assert 'binmon_asset_index_price{symbol="BTCUSD"} 87444.54032684\n' in text
    assert 'binmon_asset_bid_buffer{symbol="BTCUSD"} 0.05000000\n' in text
    assert 'binmon_asset_event_timestamp_seconds{symbol="BTCUSD"} 1700000000.123\n' in text
    assert 'binmon_contract_onboard_timestamp_seconds{symbol="BTCUSDT"} 1569398400\n' in text
    assert 'binmon_contract_delivery_timestamp_seconds{symbol="BTCUSDT"} 4133404800\n' in text
    assert 'binmon_contract_max_leverage{symbol="BTCUSDT"} 125\n' in text
    assert 'binmon_contract_brackets{symbol="BTCUSDT"} 2\n' in text
    assert 'binmon_contract_status{symbol="BTCUSDT",status="TRADING"} 1\n' in text
    assert 'binmon_collateral_value{asset="BTC"} 41536.156655250\n' in text
    assert "binmon_collateral_total_value 41536.15665525\n" in text
    assert 'binmon_alerts_total{kind="listing"} 1\n' in text
    assert (
        'binmon_contract_info{symbol="ETHUSDT",pair="ETHUSDT",contract_type="PERPETUAL",'
        'market="UM"} 1\n' in text
    )
    stamps = samples(metrics, "binmon_stream_last_message_timestamp_seconds")
    assert stamps[(("stream", "asset_index"),)] == pytest.approx(2e9 - 0.5)
    assert stamps[(("stream", "contract_info"),)] == pytest.approx(2e9 - 30)
    # Never seen a message: no sample rather than a made-up time.
    metrics.statuses["contract info"].last_message_at = None
    stamps = samples(metrics, "binmon_stream_last_message_timestamp_seconds")
    assert (("stream", "contract_info"),) not in stamps


def test_number_values() -> None:
    assert number_value("0.10000000") == "0.10000000"
    assert number_value("-12") == "-12"
    # Exponents go through float: a huge one must not make Prometheus reject the scrape.
    assert number_value("1e400") == "+Inf"
    assert number_value("-1E400") == "-Inf"
    assert float(number_value("1.5e-7")) == 1.5e-7
    assert ms_value(1_700_000_000_005) == "1700000000.005"
    assert ms_value(1_700_000_000_000) == "1700000000"


def test_unknown_contract_fields_give_empty_labels_and_no_samples() -> None:
    book = ContractBook()
    event = ContractInfo("NEWUSDT", 5, None, None, None, None, None, None, None)
    book.apply(event)
    metrics = Metrics({}, book)
    text = metrics.exposition().decode()
    assert 'binmon_contract_info{symbol="NEWUSDT",pair="",contract_type="",market=""} 1\n' in text
    assert 'binmon_contract_brackets{symbol="NEWUSDT"} 0\n' in text
    for family in ("status", "onboard_timestamp_seconds", "max_leverage"):
        assert f'binmon_contract_{family}{{symbol="NEWUSDT"' not in text


def test_strings_from_the_network_cannot_break_the_format() -> None:
    hostile = 'EVIL"} 1\nbinmon_fake 1\n\\\x1b[31m\ud800'
    book = ContractBook()
    book.apply(contract_event(hostile, status='TRA"DING\n'))
    metrics = Metrics({}, book)
    metrics.assets([asset(hostile)], None)
    text = metrics.exposition().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "binmon_fake" not in families
    statuses = [s.labels for s in families["binmon_contract_status"].samples]
    assert len(statuses) == 1
    # The parser gives back the label as sent (a lone surrogate becomes U+FFFD).
    assert statuses[0]["symbol"] == hostile.replace("\ud800", "?")
    assert statuses[0]["status"] == 'TRA"DING\n'
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_a_contract_is_shown_as_the_book_has_it_now() -> None:
    book = ContractBook()
    book.seed([Contract("BTCUSDT", "BTCUSDT", "PERPETUAL", "TRADING", 4133404800000, 1, "UM")])
    metrics = Metrics({}, book)
    assert samples(metrics, "binmon_contract_status") == {
        (("status", "TRADING"), ("symbol", "BTCUSDT")): 1.0
    }
    settling = {"status": "SETTLING", "delivery_time": 1_800_000_000_000}
    book.apply(contract_event(**settling))
    book.apply(contract_event(time=3, brackets=[bracket(1, "75")], **settling))
    # One series per symbol: the old status is gone, not left at 1.
    assert samples(metrics, "binmon_contract_status") == {
        (("status", "SETTLING"), ("symbol", "BTCUSDT")): 1.0
    }
    assert samples(metrics, "binmon_contract_delivery_timestamp_seconds") == {
        (("symbol", "BTCUSDT"),): 1_800_000_000.0
    }
    assert samples(metrics, "binmon_contract_max_leverage") == {(("symbol", "BTCUSDT"),): 75.0}
    book.apply(contract_event(time=4, brackets=[bracket(1, "50")], **settling))
    assert samples(metrics, "binmon_contract_max_leverage") == {(("symbol", "BTCUSDT"),): 50.0}


def test_changes_are_counted_by_field_from_zero() -> None:
    book = ContractBook()
    book.seed([])
    metrics = Metrics({}, book)
    assert set(samples(metrics, "binmon_contract_changes_total").values()) == {0.0}
    assert len(samples(metrics, "binmon_contract_changes_total")) == len(CHANGE_FIELDS)
    for event in (
        contract_event(status="PENDING_TRADING", brackets=[bracket(1)]),
        contract_event(time=3, brackets=[bracket(1, "100"), bracket(2)]),
        contract_event(time=3, brackets=[bracket(1, "100"), bracket(2)]),
    ):
        metrics.contract(event, book.apply(event), None)
    counts = {
        dict(k)["field"]: v for k, v in samples(metrics, "binmon_contract_changes_total").items()
    }
    assert counts["listed"] == 1
    assert counts["status"] == 1
    assert counts["max_leverage"] == 1
    assert counts["bracket"] == 1
    assert counts["delivery_time"] == 0


def test_alert_and_collateral_families_only_when_those_features_are_on() -> None:
    metrics = Metrics({}, ContractBook())
    text = metrics.exposition().decode()
    assert "binmon_alerts_total" not in text and "binmon_collateral" not in text
    metrics = Metrics({}, ContractBook(), alert_kinds=("all",), collateral=True)
    text = metrics.exposition().decode()
    assert 'binmon_alerts_total{kind="leverage-cut"} 0\n' in text
    assert "# TYPE binmon_collateral_total_value gauge\n" in text
    # An asset without an index entry yet has no value: no sample, and no total.
    unvalued = AssetValue("XYZ", "XYZUSD", Decimal("1"))
    metrics.collateral(CollateralReport(1, (unvalued,), Decimal("0"), Decimal("0")))
    text = metrics.exposition().decode()
    assert "binmon_collateral_value{" not in text
    assert "binmon_collateral_total_value 0\n" in text


def test_run_filters_narrow_the_contracts() -> None:
    book = ContractBook()
    for symbol in ("BTCUSDT", "ETHUSDT", "BTCUSD_PERP"):
        book.apply(contract_event(symbol, market="CM" if symbol.endswith("PERP") else "UM"))
    metrics = Metrics({}, book, filters=Filters.build(symbols=("btc*",), market="um"))
    assert [dict(k)["symbol"] for k in samples(metrics, "binmon_contract_info")] == ["BTCUSDT"]


def test_series_are_bounded_for_700_contracts_and_40_assets() -> None:
    clock = Clock()
    book = ContractBook()
    book.seed(
        Contract(f"S{i}USDT", f"S{i}USDT", "PERPETUAL", "TRADING", 4133404800000, 1, "UM")
        for i in range(700)
    )
    metrics = Metrics(statuses(clock), book, clock=clock)
    for round_ in range(3):
        metrics.assets([asset(f"A{i}USD", time=round_) for i in range(40)], None)
        for i in range(700):
            event = contract_event(
                f"S{i}USDT", time=round_ + 2, brackets=[bracket(1, str(100 - round_)), bracket(2)]
            )
            metrics.contract(event, book.apply(event), None)
    families = parse(metrics)
    series = sum(len(s) for name, s in families.items() if not name.startswith("process_"))
    # README ("Unattended"): 40 x 10 + 700 x 6 + 13 changes fields + 2 streams x 5.
    assert series == 40 * 10 + 700 * 6 + len(CHANGE_FIELDS) + 2 * 5 == 4623
    assert sum(len(s) for name, s in families.items() if name.startswith("process_")) == 6


def test_health_says_which_stream_and_why_in_one_line() -> None:
    clock = Clock()
    streams = statuses(clock)
    metrics = Metrics(streams, ContractBook(), stale_after=10, clock=clock)
    assert metrics.health() is None
    up = samples(metrics, "binmon_stream_up")
    assert up == {(("stream", "asset_index"),): 1.0, (("stream", "contract_info"),): 1.0}

    clock.now += 12  # the asset index has been silent 12.5 s
    assert metrics.health() == "asset index: no data for 12.5s (stale after 10s)"
    assert samples(metrics, "binmon_stream_up")[(("stream", "asset_index"),)] == 0.0

    streams["contract info"].state = "reconnecting"
    streams["contract info"].reason = "connection refused\nby 127.0.0.1"
    problem = metrics.health()
    assert problem is not None and "\n" not in problem
    assert problem.endswith("contract info: reconnecting (connection refused by 127.0.0.1)")

    fresh = {"asset index": connected("asset index", clock)}
    assert Metrics(fresh, ContractBook(), clock=clock).health() == (
        "asset index: connected, no data in 60.0s"
    )


def test_the_rest_snapshot_fills_in_but_never_overwrites_newer_stream_data() -> None:
    metrics = Metrics({}, ContractBook(), filters=Filters.build(symbols=("btc*", "eth*")))
    assert metrics.wants_asset_snapshot
    metrics.assets([asset("BTCUSD", time=2000, price="2")], None)
    metrics.asset_snapshot(
        [asset("BTCUSD", time=1000, price="1"), asset("ETHUSD", price="3"), asset("ADAUSD")]
    )
    prices = samples(metrics, "binmon_asset_index_price")
    assert prices == {(("symbol", "BTCUSD"),): 2.0, (("symbol", "ETHUSD"),): 3.0}


def test_finished_json_lines_serve_as_well_as_events() -> None:
    from binmon.jsonl import encode_assets

    metrics = Metrics({}, ContractBook())
    assert metrics.takes_encoded_assets
    for t in range(1, 201):
        metrics.asset_lines(encode_assets([asset("BTCUSD", time=t, price=f"{t}.10")]))
        # Held as they came, and never more than a bounded number of frames.
        assert len(metrics._pending_lines) < 64
    text = metrics.exposition().decode()
    assert 'binmon_asset_index_price{symbol="BTCUSD"} 200.10\n' in text
    assert 'binmon_asset_event_timestamp_seconds{symbol="BTCUSD"} 0.200\n' in text
