"""/metrics and /healthz served while the streams run, against `binmon serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from binmon.connection import Backoff, ConnectionSettings
from binmon.diag import Diagnostics
from binmon.endpoints import Endpoints, Listen, parse_listen
from binmon.env import Environment
from binmon.filters import Filters
from binmon.runner import ASSETS, CONTRACTS, RunConfig, Runner
from binmon.server import ServerConfig, start_server
from binmon.server.faults import Faults
from tests.exchange import FakeExchange, asset_frame, hold
from tests.test_process import BINMON, wait_for_output
from tests.waiting import wait_until, wait_until_async


@dataclass
class Running:
    runner: Runner
    base: str
    http: aiohttp.ClientSession
    out: io.BytesIO
    err: io.StringIO

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.text()

    async def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = await self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def value(self, name: str, **labels: str) -> float | None:
        return (await self.samples()).get((name, tuple(sorted(labels.items()))))


@contextlib.asynccontextmanager
async def running(server: ServerConfig, **options: object) -> AsyncIterator[Running]:
    app, port = await start_server(server, "127.0.0.1", 0)
    out, err = io.BytesIO(), io.StringIO()
    config = RunConfig(
        kinds=(ASSETS, CONTRACTS),
        endpoints=Endpoints(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"),
        metrics_listen=Listen("127.0.0.1", 0),
        backoff=lambda: Backoff(base=0.05, cap=0.2),
        **options,  # type: ignore[arg-type]
    )
    runner = Runner(config, Environment(stdout=out, stderr=err), Diagnostics(err))
    task = asyncio.create_task(runner.run())
    try:
        await wait_until(lambda: runner.metrics_server is not None or task.done())
        assert runner.metrics_server is not None, err.getvalue()
        base = f"http://127.0.0.1:{runner.metrics_server.port}"
        async with aiohttp.ClientSession() as http:
            yield Running(runner, base, http, out, err)
    finally:
        runner.stop.set()
        async with asyncio.timeout(10):
            await task
        await app.cleanup()


async def test_metrics_and_health_follow_the_streams() -> None:
    # The asset index goes silent after 40 frames (2 s): stale, reconnected, up again.
    server = ServerConfig(rate=20, seed=3, faults=Faults(silent_after=40))
    options = {"headless": True, "settings": ConnectionSettings(stale_after=0.6)}
    async with running(server, **options) as run:

        async def healthy() -> bool:
            return (await run.get("/healthz")) == (200, "ok")

        async def both_up() -> bool:
            # Checked together in one wait: the asset index goes silent 2 s in.
            return (
                await healthy()
                and await run.value("binmon_stream_up", stream="asset_index") == 1
                and await run.value("binmon_stream_up", stream="contract_info") == 1
            )

        await wait_until_async(both_up, 15, "/healthz 200 ok and both streams up", 0.05)
        # The REST snapshot fills the contracts before any event.
        samples = await run.samples()
        infos = [k for k in samples if k[0] == "binmon_contract_info"]
        assert len(infos) >= 600

        reasons: list[str] = []

        async def unhealthy() -> bool:
            # The reason is kept from the same answer: a second request could
            # already find the stream reconnected.
            status, body = await run.get("/healthz")
            reasons.append(body)
            return status == 503

        await wait_until_async(unhealthy, 15, "/healthz 503 once serve went silent", 0.05)
        reason = reasons[-1]
        assert reason.startswith("asset index: ") and "\n" not in reason

        async def recovered() -> bool:
            reconnects = await run.value("binmon_stream_reconnects_total", stream="asset_index")
            return bool(reconnects) and await healthy()

        await wait_until_async(recovered, 15, "a reconnect, then /healthz ok again", 0.05)

        async def changed() -> bool:
            samples = await run.samples()
            return sum(v for k, v in samples.items() if k[0] == "binmon_contract_changes_total") > 0

        await wait_until_async(changed, 15, "a contract change counted", 0.05)
        assert run.out.getvalue() == b""  # headless: nothing on stdout


async def test_metrics_beside_json_lines() -> None:
    async with running(ServerConfig(rate=20, seed=4), json=True) as run:
        # The metrics take finished lines: the C accelerator stays on for JSON lines.
        assert run.runner.consumers.takes_encoded_assets

        def btcusd_lines() -> dict[int, str]:
            lines = [json.loads(line) for line in run.out.getvalue().splitlines()]
            return {
                line["event_time"]: str(line["index_price"])
                for line in lines
                if line["symbol"] == "BTCUSD"
            }

        await wait_until(lambda: bool(btcusd_lines()))
        samples = await run.samples()
        key = (("symbol", "BTCUSD"),)
        event_ms = round(samples[("binmon_asset_event_timestamp_seconds", key)] * 1000)
        # The same events feed both: the scraped entry is one of the lines written.
        written = btcusd_lines()
        assert event_ms in written
        assert samples[("binmon_asset_index_price", key)] == float(written[event_ms])


async def test_symbol_patterns_narrow_assets_and_contracts_alike() -> None:
    options = {"headless": True, "filters": Filters.build(symbols=("btc*",))}
    async with running(ServerConfig(rate=20, seed=6), **options) as run:

        async def priced() -> bool:
            return await run.value("binmon_asset_index_price", symbol="BTCUSD") is not None

        await wait_until_async(priced, 15, "BTCUSD's price", 0.05)
        symbols = {
            dict(labels)["symbol"]
            for name, labels in await run.samples()
            if name.startswith(("binmon_asset_", "binmon_contract_"))
            and labels
            and "symbol" in dict(labels)
        }
        assert "BTCUSDT" in symbols
        assert all(symbol.startswith("BTC") for symbol in symbols), symbols


async def test_collateral_values_are_exact_and_match_the_scraped_rates() -> None:
    from binmon.collateral import parse_holds

    holdings = parse_holds(["BTC=0.5", "USDT=-1200"])
    async with running(ServerConfig(rate=20, seed=8), headless=True, holdings=holdings) as run:

        async def valued() -> bool:
            text = (await run.get("/metrics"))[1]
            return 'binmon_collateral_value{asset="USDT"}' in text

        await wait_until_async(valued, 15, "collateral values", 0.05)
        _, text = await run.get("/metrics")
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#")
        btc_bid = Decimal(values['binmon_asset_bid_rate{symbol="BTCUSD"}'])
        usdt_ask = Decimal(values['binmon_asset_ask_rate{symbol="USDTUSD"}'])
        # Binance's rule, exactly: bid rate for a positive balance, ask rate for a negative one.
        btc = Decimal(values['binmon_collateral_value{asset="BTC"}'])
        usdt = Decimal(values['binmon_collateral_value{asset="USDT"}'])
        assert btc == Decimal("0.5") * btc_bid
        assert usdt == Decimal("-1200") * usdt_ask
        assert Decimal(values["binmon_collateral_total_value"]) == btc + usdt


async def test_stuck_scrapers_never_hold_up_the_streams() -> None:
    async with running(ServerConfig(rate=20, seed=5), headless=True) as run:
        assert run.runner.metrics_server is not None
        port = run.runner.metrics_server.port
        request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        stuck = []
        for _ in range(10):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            # Pipelined requests that are never read: megabytes the server cannot send.
            writer.write(request * 40)
            stuck.append(writer)
        try:
            status = run.runner.statuses[ASSETS]
            before = status.messages
            await wait_until(lambda: status.messages >= before + 40)
            assert await run.get("/healthz") == (200, "ok")
        finally:
            for writer in stuck:
                writer.transport.abort()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9477", Listen("127.0.0.1", 9477)),
        (":0", Listen("127.0.0.1", 0)),
        ("0.0.0.0:80", Listen("0.0.0.0", 80)),
        ("[::1]:9477", Listen("::1", 9477)),
        ("localhost:1", Listen("localhost", 1)),
    ],
)
def test_listen_addresses(text: str, expected: Listen) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9477", "host:", "host:http", "::1:80", "[::1:80", "h:70000"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_a_bad_listen_address_is_a_usage_error() -> None:
    result = subprocess.run(
        [*BINMON, "watch", "--metrics", "localhost"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Error: Invalid value for '--metrics': 'localhost' is not HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line_and_exit_1(exchange: FakeExchange) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*BINMON, "assets", "--json", "--metrics", f"127.0.0.1:{port}", *exchange.args()],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert result.stdout == ""


def test_exporter_process_is_quiet_on_stdout_and_ends_0_on_sigterm(exchange: FakeExchange) -> None:
    async def script(ws: object, request: object, n: int) -> None:
        for k in range(1, 4):
            await ws.send_str(asset_frame(k))  # type: ignore[attr-defined]
        await hold(ws)  # type: ignore[arg-type]

    exchange.script = script  # type: ignore[assignment]
    process = subprocess.Popen(
        [*BINMON, "exporter", "--listen", "127.0.0.1:0", *exchange.args()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = wait_for_output(process, b"/metrics\n")
        port = int(seen.split(b"http://127.0.0.1:")[1].split(b"/")[0])

        async def scrape() -> str:
            async with aiohttp.ClientSession() as http:
                async with asyncio.timeout(10):
                    while True:
                        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                            text = await response.text()
                        if 'binmon_asset_index_price{symbol="BTCUSD"}' in text:
                            return text
                        await asyncio.sleep(0.05)

        text = asyncio.run(scrape())
        assert 'binmon_asset_index_price{symbol="BTCUSD"} 0.27462452\n' in text
        # A scraper stuck mid-response does not hold up the exit either.
        with socket.create_connection(("127.0.0.1", port)) as stuck:
            # Megabytes of responses it never reads: more than the socket buffers hold.
            stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: binmon\r\n\r\n" * 2000)
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0
    assert stdout == b""


def test_exporter_takes_the_contract_filters_that_narrow_its_alerts_and_metrics() -> None:
    from click.testing import CliRunner

    from binmon.cli import cli

    help_text = CliRunner().invoke(cli, ["exporter", "--help"]).output
    for flag in ("--status", "--type", "--market", "--changes-only", "--symbol"):
        assert flag in help_text
    bad = CliRunner().invoke(cli, ["exporter", "--market", "eu"])
    assert bad.exit_code == 2
