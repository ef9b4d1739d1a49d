"""Alerts through whole runs against real local servers: the real exchangeInfo
snapshots as events, duplicates, a forced drop, a rotation, a replay, the
feed going down and coming back, and ``--exec``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from binmon.alerting import AlertingFanout
from binmon.alerts import BUFFER, KINDS, STATUS, Alert, parse_kinds
from binmon.cli import cli
from binmon.commands.options import ALERT_CHOICES
from binmon.connection import Backoff
from binmon.consumer import Consumer
from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.protocol import AssetIndex, ContractInfo
from binmon.run_config import ASSETS, CONTRACTS, Endpoints, RunConfig
from binmon.runner import Runner
from binmon.state import Change
from tests.exchange import ASSET, FakeExchange, contract_frame, hold
from tests.streaming import streaming, url
from tests.waiting import wait_until

EVERY = parse_kinds(["all"])


def _frame(s: dict[str, Any], event_time: int) -> str:
    data = {
        "e": "contractInfo",
        "E": event_time,
        "s": s["symbol"],
        "ps": s["pair"],
        "ct": s["contractType"],
        "dt": s["deliveryDate"],
        "ot": s["onboardDate"],
        "cs": s["status"],
        "bks": [],
    }
    return json.dumps({"stream": "!contractInfo", "data": data})


async def _run(config: RunConfig, timeout: float = 30) -> tuple[list[dict[str, Any]], str]:
    out, err = io.BytesIO(), io.StringIO()
    runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err))
    async with asyncio.timeout(timeout):
        await runner.run()
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def _alerts_follow_their_events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert line comes right after its event's line (or another alert of it)."""
    alerts = []
    event: dict[str, Any] | None = None
    for line in lines:
        if line["type"] != "alert":
            event = line
            continue
        alerts.append(line)
        if line["kind"] == "feed":
            continue
        assert event is not None, line
        assert (line["symbol"], line["event_time"]) == (event["symbol"], event["event_time"])
    return alerts


@pytest.fixture
def december(
    exchange: FakeExchange, shared_data: Path
) -> tuple[FakeExchange, list[dict[str, Any]], list[str]]:
    """The exchange as of November; the stream says what December's snapshot says,
    with a resent frame, a forced drop, and everything again after the reconnect."""
    before = json.loads((shared_data / "exchange_info_2025-11-26.json").read_text())
    after = json.loads((shared_data / "exchange_info.json").read_text())
    exchange.exchange_info = before
    frames = [_frame(s, after["serverTime"] + i) for i, s in enumerate(after["symbols"])]
    half = len(frames) // 2

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if n == 1:
            for frame in frames[:half]:
                await ws.send_str(frame)
            await ws.send_str(frames[half - 1])  # a duplicate frame
            request.transport.close()  # type: ignore[union-attr]
            return
        # After the reconnect the stream starts over: repeats, then the rest.
        for frame in frames:
            await ws.send_str(frame)
        await hold(ws)

    exchange.script = script
    return exchange, after["symbols"], frames


def _config(exchange: FakeExchange, **extra: Any) -> RunConfig:
    return RunConfig(
        kinds=(CONTRACTS,),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        backoff=lambda: Backoff(base=0.02, cap=0.1),
        **extra,
    )


async def test_each_change_alerted_once_through_repeats_and_a_drop(
    december: tuple[FakeExchange, list[dict[str, Any]], list[str]],
) -> None:
    exchange, symbols, _ = december
    lines, err = await _run(_config(exchange, alerts=EVERY, count=len(symbols)))
    assert exchange.connections == 2 and "reconnecting" in err
    events = [line for line in lines if line["type"] == "contract_info"]
    assert [e["symbol"] for e in events] == [s["symbol"] for s in symbols]
    alerts = _alerts_follow_their_events(lines)
    keys = [(a["kind"], a["symbol"]) for a in alerts]
    assert len(keys) == len(set(keys)), "an alert raised twice"
    kinds = Counter(a["kind"] for a in alerts)
    # The counts the two snapshots give (tests/test_alerts.py names them).
    assert kinds["listing"] == 13
    assert kinds["status"] == 11
    assert kinds["delisting"] >= 9
    assert set(kinds) == {"listing", "status", "delisting"}


async def test_a_replay_raises_the_recordings_alerts(
    december: tuple[FakeExchange, list[dict[str, Any]], list[str]], tmp_path: Path
) -> None:
    exchange, symbols, _ = december
    live, _ = await _run(_config(exchange, alerts=EVERY, count=len(symbols)))
    exchange.connections = 0
    recording = tmp_path / "december.jsonl.gz"
    await _run(_config(exchange, count=len(symbols), record_path=str(recording)))
    replayed, _ = await _run(_config(exchange, alerts=EVERY, from_file=str(recording)))
    assert _alerts_follow_their_events(replayed) == _alerts_follow_their_events(live)
    # Narrowed like the events: -s keeps the alerts of matching symbols only.
    narrowed, _ = await _run(
        _config(
            exchange,
            alerts=EVERY,
            from_file=str(recording),
            filters=_filters(symbols=("*USDT_26*",)),
        )
    )
    assert {a["symbol"] for a in _alerts_follow_their_events(narrowed)} == {
        "BTCUSDT_260327",
        "BTCUSDT_260626",
        "ETHUSDT_260626",
    }


def _filters(**kwargs: Any) -> Any:
    from binmon.filters import Filters

    return Filters.build(**kwargs)


class Seen(Consumer):
    """Keeps events and alerts in the order heard."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, int | None]] = []

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self.heard += [("asset", e.symbol, e.event_time) for e in events]

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        self.heard.append(("contract", event.symbol, event.event_time))

    def alert(self, alert: Alert) -> None:
        self.heard.append((alert.kind, alert.symbol or "", alert.event_time))


async def test_a_rotation_raises_no_second_alert(exchange: FakeExchange) -> None:
    """Buffers and statuses change with every tick; the rotating connection
    delivers an overlap twice, and each change is alerted once, in place."""
    frames: list[str] = []
    ticker: list[asyncio.Task[None]] = []

    async def produce() -> None:
        for k in range(1, 10_000):
            buffer = str(Decimal("0.05") + Decimal(k) / 10_000)
            data = [
                dict(ASSET, E=k, s=s, b=buffer if s == "BTCUSD" else "0.1")
                for s in ("ADAUSD", "BTCUSD", "ETHUSD")
            ]
            frames.append(json.dumps({"stream": "!assetIndex@arr", "data": data}))
            if k % 3 == 0:
                frames.append(contract_frame(k, "XUSDT", "TRADING" if k % 2 else "SETTLING"))
            await asyncio.sleep(0.01)

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if not ticker:
            ticker.append(asyncio.create_task(produce()))
        position = len(frames)  # every connection gets the same frames from "now" on
        reader = asyncio.create_task(hold(ws))
        while not ws.closed:
            while position < len(frames) and not ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(frames[position])
                position += 1
            await asyncio.sleep(0.005)
        reader.cancel()

    exchange.script = script
    seen = Seen()
    fanout = AlertingFanout([seen], frozenset({BUFFER, STATUS}))
    async with streaming(url(exchange), sink=fanout, max_age=0.4, stale_after=5) as h:
        await wait_until(lambda: exchange.connections >= 3, timeout=15)
        await wait_until(lambda: fanout.raised > 20)
    ticker[0].cancel()
    assert "switched to the new connection" in h.stderr.getvalue()
    heard = seen.heard
    buffer_times = [t for kind, _, t in heard if kind == BUFFER]
    assert buffer_times == list(range(buffer_times[0], buffer_times[0] + len(buffer_times)))
    status_times = [t for kind, _, t in heard if kind == STATUS]
    assert len(status_times) == len(set(status_times)) > 0
    for i, (kind, _, t) in enumerate(heard):
        if kind == BUFFER:
            # Right after BTCUSD's own event, before ETHUSD's of the same frame.
            assert heard[i - 1] == ("asset", "BTCUSD", t)
            assert i + 1 == len(heard) or heard[i + 1] == ("asset", "ETHUSD", t)
        elif kind == STATUS:
            assert heard[i - 1] == ("contract", "XUSDT", t)


async def test_feed_alert_when_down_and_again_when_back(exchange: FakeExchange) -> None:
    exchange.upgrade_status = 503  # refused: the stream is down from the start

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        k = 0
        with contextlib.suppress(ConnectionError):
            while not ws.closed:
                k += 1
                await ws.send_str(
                    json.dumps(
                        {"stream": "!assetIndex@arr", "data": [dict(ASSET, E=k, s="ADAUSD")]}
                    )
                )
                await asyncio.sleep(0.05)

    exchange.script = script
    out, err = io.BytesIO(), io.StringIO()
    config = RunConfig(
        kinds=(ASSETS,),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        backoff=lambda: Backoff(base=0.05, cap=0.1),
        alerts=frozenset({"feed"}),
        alert_after=0.5,
    )
    runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err))
    task = asyncio.create_task(runner.run())
    await wait_until(lambda: b'"kind":"feed"' in out.getvalue())
    exchange.upgrade_status = None
    await wait_until(lambda: b"delivering again" in out.getvalue())
    runner.stop.set()
    await task
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    feed = [line for line in lines if line["type"] == "alert"]
    assert [(a["symbol"], a["event_time"]) for a in feed] == [(None, None), (None, None)]
    assert feed[0]["message"].startswith("asset index stream not delivering for 0s (reconnecting: ")
    assert "HTTP 503" in feed[0]["message"]
    assert feed[1]["message"].startswith("asset index stream delivering again after ")
    # Once per outage: the down alert came before any event, the recovery after some.
    assert lines[0]["type"] == "alert" and lines[-1]["type"] in ("alert", "asset_index")


async def test_exec_gets_every_alert_line(
    december: tuple[FakeExchange, list[dict[str, Any]], list[str]], tmp_path: Path
) -> None:
    exchange, symbols, _ = december
    got = tmp_path / "got"
    got.mkdir()
    command = f'cat > "{got}/$BINMON_ALERT_KIND.$BINMON_ALERT_SYMBOL.json"'
    lines, err = await _run(
        _config(exchange, alerts=frozenset({"listing"}), count=len(symbols), exec_command=command)
    )
    alerts = _alerts_follow_their_events(lines)
    assert len(alerts) == 13
    files = {p.name: json.loads(p.read_text()) for p in got.iterdir()}
    assert files == {f"listing.{a['symbol']}.json": a for a in alerts}
    assert "--exec" not in err  # nothing failed, nothing dropped


def test_alert_choices_are_the_kinds() -> None:
    assert (*KINDS, "all") == ALERT_CHOICES


def test_a_bad_kind_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["contracts", "--alert", "listings"])
    assert result.exit_code == 2
    assert "'listings' is not one of" in result.stderr


def test_exec_without_alert_means_every_kind(exchange: FakeExchange) -> None:
    from binmon.commands.options import StreamOptions
    from binmon.commands.streaming import _alert_kinds

    assert _alert_kinds(StreamOptions(exec_command="true")) == EVERY
    assert _alert_kinds(StreamOptions()) == frozenset()
    assert _alert_kinds(StreamOptions(alerts=("feed",), notify=True)) == {"feed"}


def test_demo_shows_an_alert_within_its_first_seconds() -> None:
    # 12 scenario ticks at 10 per second: the first 12 s of a demo at its default rate.
    result = CliRunner().invoke(cli, ["demo", "--json", "--rate", "10", "--duration", "2.5"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    alerts = _alerts_follow_their_events(lines)
    assert alerts, "no alert in the demo's first seconds"


async def test_a_position_alert_when_the_ladder_moves_it(
    exchange: FakeExchange, shared_data: Path
) -> None:
    from tests.test_alerts import _ladders

    old, new = _ladders(shared_data, "BTCUSDT")

    def frame(event_time: int, bks: str) -> str:
        return contract_frame(event_time, "BTCUSDT")[: -len("[]}}")] + f"{bks}}}}}"

    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for t, bks in ((1, old), (2, new)):
            await ws.send_str(frame(t, bks))
        await hold(ws)

    exchange.script = script
    exchange.exchange_info = {"symbols": []}
    lines, _ = await _run(
        _config(
            exchange,
            alerts=frozenset({"position", "leverage-cut"}),
            count=2,
            positions={"BTCUSDT": Decimal("400000"), "ETHUSDT": Decimal("1")},
        )
    )
    alerts = _alerts_follow_their_events(lines)
    # 2023 → 2024 only loosened BTCUSDT's ladder: no cut, but the position moved.
    assert [(a["kind"], a["event_time"], a["message"]) for a in alerts] == [
        (
            "position",
            2,
            # Exact products of the ladders' digits (400000 × 0.01 − 1300, × 0.005 − 50.0).
            "BTCUSDT position 400000: bracket 3 → 2, max leverage 50 → 100, "
            "maintenance margin 2700.00 → 1950.000",
        )
    ]
    assert lines[-2]["position_before"]["bracket"] == 3


def test_a_frame_cut_for_alerts_reaches_whole_frame_consumers_once() -> None:
    from binmon.protocol import decode_payload

    class Whole(Seen):
        whole_frames = True

        def __init__(self) -> None:
            super().__init__()
            self.frames: list[int] = []

        def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
            self.frames.append(len(events))

    pieces, whole = Seen(), Whole()
    fanout = AlertingFanout([pieces, whole], frozenset({BUFFER}))

    def frame(t: int, buffer: str) -> list[AssetIndex]:
        data = [dict(ASSET, E=t, s=s, b=buffer if s == "B" else "0.1") for s in "ABC"]
        return decode_payload("!assetIndex@arr", json.dumps(data).encode()).events  # type: ignore[return-value]

    fanout.assets(frame(1, "0.1"), None)
    fanout.assets(frame(2, "0.2"), None)
    assert pieces.heard[3:] == [
        ("asset", "A", 2),
        ("asset", "B", 2),
        ("buffer", "B", 2),
        ("asset", "C", 2),
    ]
    assert whole.frames == [3, 3]
    assert [h for h in whole.heard if h[0] == "buffer"] == [("buffer", "B", 2)]


def test_symbol_globs_narrow_buffer_alerts_but_not_what_values_holdings() -> None:
    from binmon.protocol import decode_payload

    class Valuing(Seen):
        whole_frames = True
        unfiltered_assets = True

        def __init__(self) -> None:
            super().__init__()
            self.symbols: list[list[str]] = []

        def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
            self.symbols.append([e.symbol for e in events])

    class Unfiltered(Valuing):
        whole_frames = False  # unfiltered alone: still one whole frame each time

    shown, valuing, unfiltered = Seen(), Valuing(), Unfiltered()
    fanout = AlertingFanout([shown, valuing, unfiltered], frozenset({BUFFER}))

    def frame(t: int, buffer: str) -> list[AssetIndex]:
        data = [dict(ASSET, E=t, s=s, b=buffer) for s in "ABC"]
        return decode_payload("!assetIndex@arr", json.dumps(data).encode()).events  # type: ignore[return-value]

    for t, buffer in ((1, "0.1"), (2, "0.2")):
        whole = frame(t, buffer)
        fanout.narrowed_assets([whole[1]], None, whole, None)  # -s shows B only
    assert shown.heard == [("asset", "B", 1), ("asset", "B", 2), ("buffer", "B", 2)]
    assert valuing.symbols == unfiltered.symbols == [["A", "B", "C"], ["A", "B", "C"]]
    whole = frame(3, "0.3")
    fanout.narrowed_assets([], None, whole, None)  # nothing shown: no alert, still valued
    assert shown.heard[-1] == ("buffer", "B", 2)
    assert valuing.symbols[-1] == unfiltered.symbols[-1] == ["A", "B", "C"]
    assert len(valuing.symbols) == len(unfiltered.symbols) == 3


async def test_the_exporter_counts_alerts(
    december: tuple[FakeExchange, list[dict[str, Any]], list[str]],
) -> None:
    import aiohttp

    from binmon.endpoints import Listen

    exchange, _, _ = december
    err = io.StringIO()
    config = RunConfig(
        kinds=(ASSETS, CONTRACTS),
        endpoints=Endpoints(exchange.ws_url, exchange.rest_url),
        backoff=lambda: Backoff(base=0.02, cap=0.1),
        headless=True,
        metrics_listen=Listen("127.0.0.1", 0),
        alerts=frozenset({"listing", "status"}),
    )
    runner = Runner(config, Environment(stdout=io.BytesIO(), stderr=err), Diagnostics(err))
    task = asyncio.create_task(runner.run())
    try:
        await wait_until(lambda: runner.metrics is not None and runner.metrics_server is not None)
        await wait_until(lambda: (runner.metrics.alerts or {}).get("status") == 11)  # type: ignore[union-attr]
        port = runner.metrics_server.port  # type: ignore[union-attr]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
    finally:
        runner.stop.set()
        await task
    assert 'binmon_alerts_total{kind="listing"} 13\n' in text
    assert 'binmon_alerts_total{kind="status"} 11\n' in text
