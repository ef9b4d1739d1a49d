"""``binmon upcoming`` against a real local server: JSON lines, the table, errors."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from binmon.cli import cli
from binmon.env import Environment
from binmon.protocol import PERPETUAL_DELIVERY_MS
from binmon.server import ServerConfig
from binmon.server.app import start_server
from tests.exchange import FakeExchange

NOW = 1_800_000_000_000
HOUR = 3_600_000


def symbol(
    name: str, onboard: int, delivery: int = PERPETUAL_DELIVERY_MS, **kw: Any
) -> dict[str, Any]:
    return {
        "symbol": name,
        "pair": kw.get("pair", name),
        "contractType": kw.get("contractType", "PERPETUAL"),
        "deliveryDate": delivery,
        "onboardDate": onboard,
        "status": kw.get("status", "TRADING"),
        "quoteAsset": kw.get("quoteAsset", "USDT"),
    }


INFO = {
    "serverTime": NOW,
    "symbols": [
        symbol("BTCUSDT", NOW - 1000 * HOUR, 4133404802000),
        symbol("NEWUSDT", NOW + 2 * HOUR, status="PENDING_TRADING"),
        symbol("GONEUSDT", NOW - 900 * HOUR, NOW + HOUR + 30_000, status="SETTLING"),
        symbol(
            "BTCUSD_270326",
            NOW - 10 * HOUR,
            NOW + 2000 * HOUR,
            pair="BTCUSD",
            contractType="NEXT_QUARTER",
            quoteAsset="USD",
        ),
    ],
}


def env(*, tty: bool, now_ms: int = NOW) -> Environment:
    return Environment(
        stdout=io.BytesIO(),
        stderr=io.StringIO(),
        stdout_isatty=tty,
        width=110,
        no_color=True,
        clock=lambda: now_ms / 1000,
    )


def run(
    exchange: FakeExchange, *args: str, tty: bool = False, now_ms: int = NOW
) -> tuple[int, str, str]:
    environment = env(tty=tty, now_ms=now_ms)
    result = CliRunner().invoke(
        cli, ["upcoming", "--rest-url", exchange.rest_url, *args], obj=environment
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert isinstance(environment.stdout, io.BytesIO)
    assert isinstance(environment.stderr, io.StringIO)
    # click's own errors, then binmon's diagnostics.
    stderr = result.stderr + environment.stderr.getvalue()
    return result.exit_code, environment.stdout.getvalue().decode(), stderr


def symbols(out: str) -> list[str]:
    return [json.loads(line)["symbol"] for line in out.splitlines()]


def test_json_lines_soonest_first_when_piped(exchange: FakeExchange) -> None:
    exchange.exchange_info = INFO
    code, out, err = run(exchange)
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        {"type": "upcoming", "event": "delivery", "symbol": "GONEUSDT", "time": NOW + HOUR + 30_000,
         "status": "SETTLING", "contract_type": "PERPETUAL", "pair": "GONEUSDT", "market": "UM"},
        {"type": "upcoming", "event": "listing", "symbol": "NEWUSDT", "time": NOW + 2 * HOUR,
         "status": "PENDING_TRADING", "contract_type": "PERPETUAL", "pair": "NEWUSDT",
         "market": "UM"},
        {"type": "upcoming", "event": "delivery", "symbol": "BTCUSD_270326",
         "time": NOW + 2000 * HOUR, "status": "TRADING", "contract_type": "NEXT_QUARTER",
         "pair": "BTCUSD", "market": "CM"},
    ]  # fmt: skip
    assert exchange.exchange_info_requests == 1


def test_symbol_and_market_filters(exchange: FakeExchange) -> None:
    exchange.exchange_info = INFO
    _, out, _ = run(exchange, "--json", "--market", "CM")
    assert symbols(out) == ["BTCUSD_270326"]
    _, out, _ = run(exchange, "--json", "-s", "*usdt", "-s", "btc*", "--market", "um")
    assert symbols(out) == ["GONEUSDT", "NEWUSDT"]
    code, out, _ = run(exchange, "-s", "NOPE*")
    assert (code, out) == (0, "")


def test_the_clock_decides_what_is_still_ahead(exchange: FakeExchange) -> None:
    exchange.exchange_info = INFO
    _, out, _ = run(exchange, "--json", now_ms=NOW + 2 * HOUR)
    assert symbols(out) == ["BTCUSD_270326"]


def table_rows(out: str) -> list[list[str]]:
    """The cells of each row below the header rule (columns are 2+ spaces apart)."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("───"))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[rule + 1 :] if line.strip()]


def test_table_on_a_terminal_with_the_time_left(exchange: FakeExchange) -> None:
    hostile = "[bold]EVIL\x1b[2JUSDT"
    exchange.exchange_info = {"symbols": [*INFO["symbols"], symbol(hostile, NOW + 50 * HOUR)]}  # type: ignore[list-item]
    code, out, err = run(exchange, tty=True)
    assert code == 0, err
    assert "\x1b" not in out
    assert "Upcoming listings and deliveries: 4, as of 2027-01-15 08:00:00 UTC" in out
    rows = table_rows(out)
    assert rows == [
        ["in 1h00m", "2027-01-15 09:00", "delisting", "GONEUSDT", "PERPETUAL", "SETTLING", "UM"],
        ["in 2h00m", "2027-01-15 10:00", "listing", "NEWUSDT", "PERPETUAL", "PENDING_TRADING",
         "UM"],
        ["in 2d02h", "2027-01-17 10:00", "listing", "[bold]EVIL␛[2JUSDT", "PERPETUAL", "TRADING",
         "UM"],
        ["in 83d08h", "2027-04-08 16:00", "delivery", "BTCUSD_270326", "NEXT_QUARTER", "TRADING",
         "CM"],
    ]  # fmt: skip
    # --json still wins on a terminal.
    code, out, _ = run(exchange, "--json", tty=True)
    assert code == 0 and all(json.loads(line)["type"] == "upcoming" for line in out.splitlines())


def test_nothing_scheduled(exchange: FakeExchange) -> None:
    exchange.exchange_info = {"symbols": [symbol("BTCUSDT", NOW - HOUR)]}
    assert run(exchange, tty=True)[:2] == (0, "No listings or deliveries scheduled.\n")
    assert run(exchange)[:2] == (0, "")
    code, out, _ = run(exchange, "-s", "NEW*", tty=True)
    assert (code, out) == (0, "No listings or deliveries scheduled that match -s/--market.\n")


def test_real_exchange_info_served(exchange: FakeExchange, shared_data: Path) -> None:
    exchange.exchange_info = json.loads((shared_data / "exchange_info.json").read_text())
    server_time = exchange.exchange_info["serverTime"]
    code, out, err = run(exchange, now_ms=server_time)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(d["event"], d["symbol"], d["time"]) for d in lines] == [
        ("delivery", "BTCUSDT_251226", 1766736000000),
        ("delivery", "ETHUSDT_251226", 1766736000000),
        ("delivery", "BTCUSDT_260327", 1774598400000),
        ("delivery", "ETHUSDT_260327", 1774598400000),
        ("delivery", "BTCUSDT_260626", 1782460800000),
        ("delivery", "ETHUSDT_260626", 1782460800000),
    ]
    assert lines[0] == {
        "type": "upcoming",
        "event": "delivery",
        "symbol": "BTCUSDT_251226",
        "time": 1766736000000,
        "status": "DELIVERING",
        "contract_type": "CURRENT_QUARTER DELIVERING",
        "pair": "BTCUSDT",
        "market": "UM",
    }
    code, out, _ = run(exchange, tty=True, now_ms=server_time)
    assert table_rows(out)[0] == [
        "in 2d00h", "2025-12-26 08:00", "delivery", "BTCUSDT_251226", "CURRENT_QUARTER DELIVERING",
        "DELIVERING", "UM",
    ]  # fmt: skip


# --- errors ------------------------------------------------------------------------------


def test_unreachable_host_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = env(tty=False)
    result = CliRunner().invoke(
        cli, ["upcoming", "--rest-url", f"http://127.0.0.1:{port}"], obj=environment
    )
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot reach 127.0.0.1:{port}: connection refused\n"


def test_http_errors_and_broken_answers(exchange: FakeExchange) -> None:
    host = f"127.0.0.1:{exchange.port}"
    exchange.rest_failures = [(451, {})]
    code, _, err = run(exchange)
    assert code == 1 and "HTTP 451, restricted location" in err and err.count("\n") == 1
    # Longer than a one-off command waits: said at once, not slept through.
    exchange.rest_failures = [(503, {"Retry-After": "3600"})]
    code, _, err = run(exchange)
    assert code == 1 and err.startswith("Error: ") and "503" in err and err.count("\n") == 1
    exchange.exchange_info = "<html>maintenance"
    code, _, err = run(exchange)
    assert code == 1
    assert err.startswith(f"Error: unexpected answer from {host}/fapi/v1/exchangeInfo: ")
    exchange.exchange_info = ["not", "an", "object"]
    assert run(exchange)[::2] == (
        1,
        f"Error: unexpected answer from {host}/fapi/v1/exchangeInfo: not a JSON object\n",
    )
    # Odd entries are skipped, not fatal.
    exchange.exchange_info = {"symbols": ["x", {"symbol": 5}, symbol("OKUSDT", NOW + 1)]}
    code, out, _ = run(exchange)
    assert code == 0 and symbols(out) == ["OKUSDT"]


def test_a_brief_rate_limit_is_ridden_out(exchange: FakeExchange) -> None:
    exchange.exchange_info = {"symbols": [symbol("OKUSDT", NOW + 1)]}
    exchange.rest_failures = [(429, {"Retry-After": "0"})]
    code, out, err = run(exchange, "-v")
    assert code == 0 and symbols(out) == ["OKUSDT"]
    assert exchange.exchange_info_requests == 2
    assert "HTTP 429: retrying in" in err


def test_usage_errors() -> None:
    result = CliRunner().invoke(cli, ["upcoming", "--market", "eu"])
    assert result.exit_code == 2 and "'eu' is not one of 'um', 'cm'" in result.stderr
    result = CliRunner().invoke(cli, ["upcoming", "--rest-url", "ftp://x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid --rest-url 'ftp://x'")


async def test_against_binmon_serve_as_a_process() -> None:
    # The stand-in exchange announces listings ahead and has quarterlies of both markets.
    runner, port = await start_server(ServerConfig(seed=3), "127.0.0.1", 0)
    try:
        results = []
        for extra in ([], ["--market", "cm"]):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "binmon", "upcoming", "--rest-url",
                f"http://127.0.0.1:{port}", *extra,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err
            assert err == b""
            results.append([json.loads(line) for line in out.splitlines()])
    finally:
        await runner.cleanup()
    everything, coin_m = results
    times = [e["time"] for e in everything]
    assert times == sorted(times)
    kinds = {e["event"] for e in everything}
    assert kinds == {"listing", "delivery"}
    assert {e["market"] for e in everything} == {"UM", "CM"}
    # The scenario moves on between the two runs: compare what cannot change.
    assert coin_m and {e["market"] for e in coin_m} == {"CM"}
    assert [e["time"] for e in coin_m] == sorted(e["time"] for e in coin_m)
