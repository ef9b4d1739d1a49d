"""binmon against `binmon serve`: the parts together, as a user runs them."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner

from binmon.alerts import KINDS
from binmon.cli import cli
from binmon.server import DEMO_API_KEY, DEMO_API_SECRET, ServerConfig
from binmon.server.faults import Faults


class Served:
    """`binmon serve`'s application on its own thread and event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.port = 0

    def __enter__(self) -> Served:
        from binmon.server import start_server

        ready = threading.Event()

        async def start() -> None:
            self.runner, self.port = await start_server(self.config, "127.0.0.1", 0)
            ready.set()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def args(self) -> list[str]:
        return [
            "--ws-url",
            f"ws://127.0.0.1:{self.port}",
            "--rest-url",
            f"http://127.0.0.1:{self.port}",
        ]


@pytest.fixture
def fast_server() -> Iterator[Served]:
    with Served(ServerConfig(rate=50, seed=7)) as served:
        yield served


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_assets_from_serve_obey_the_rate_relations(fast_server: Served) -> None:
    code, out, err = invoke("assets", "-n", "40", *fast_server.args())
    assert code == 0, err
    for line in out.splitlines():
        # Parse numbers as Decimal: the exact digits the server generated.
        row = json.loads(line, parse_float=Decimal)
        i = row["index_price"]
        assert abs(row["bid_rate"] - i * (1 - row["bid_buffer"])) <= Decimal("2e-8")
        assert abs(row["ask_rate"] - i * (1 + row["ask_buffer"])) <= Decimal("2e-8")
        assert abs(
            row["auto_exchange_bid_rate"] - i * (1 - row["auto_exchange_bid_buffer"])
        ) <= Decimal("2e-8")


def test_contract_events_from_serve_carry_changes(fast_server: Served) -> None:
    code, out, err = invoke("contracts", "--changes-only", "-n", "3", *fast_server.args())
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and all(r["changes"] for r in rows)
    assert all(r["market"] in ("UM", "CM") for r in rows)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(garbage_every=3),
        Faults(drop_every=7),
        Faults(drop_every=5, close_code=1011),
    ],
    ids=["garbage", "drops", "close-codes"],
)
def test_faults_lose_and_repeat_nothing(faults: Faults) -> None:
    with Served(ServerConfig(rate=50, seed=3, faults=faults)) as served:
        code, out, err = invoke("assets", "-s", "BTCUSD", "-n", "12", *served.args())
    assert code == 0, err
    times = [json.loads(line)["event_time"] for line in out.splitlines()]
    assert len(times) == 12
    assert times == sorted(set(times)), "out of order or repeated"
    if faults.garbage_every:
        # One frame per stream tick was garbage; every valid event still arrived.
        steps = {b - a for a, b in itertools.pairwise(times)}
        assert steps == {20}
        assert "malformed" in err
    else:
        assert "reconnecting" in err


def test_silent_server_is_noticed(fast_server: Served) -> None:
    with Served(ServerConfig(rate=50, faults=Faults(silent_after=5))) as served:
        code, _, err = invoke("assets", "--stale-after", "0.3", "--duration", "1.5", *served.args())
    assert code == 0
    assert "no data for 0.3s" in err and "reconnecting" in err


def test_refused_upgrade_451_is_fatal() -> None:
    with Served(ServerConfig(faults=Faults(refuse_status=451))) as served:
        code, out, err = invoke("watch", "--json", *served.args())
    assert code == 1 and out == ""
    assert "451" in err.splitlines()[-1]


def test_brackets_against_serve_with_the_demo_key(fast_server: Served) -> None:
    env = {"BINANCE_API_KEY": DEMO_API_KEY, "BINANCE_API_SECRET": DEMO_API_SECRET}
    rest = ["--rest-url", f"http://127.0.0.1:{fast_server.port}"]
    code, out, err = invoke("brackets", "BTCUSDT", "--notional", "250000", "--json", *rest, env=env)
    assert code == 0, err
    row = json.loads(out, parse_float=Decimal)
    chosen = next(b for b in row["brackets"] if b["bracket"] == row["bracket"])
    assert chosen["notional_floor"] <= 250000 < chosen["notional_cap"]
    assert row["maintenance_margin"] == 250000 * chosen["maint_margin_ratio"] - chosen["cum"]
    assert row["max_leverage"] == chosen["max_leverage"]
    assert DEMO_API_SECRET not in out + err
    code, out, err = invoke("brackets", "BTCUSDT", "--notional", "250000", *rest, env=env)
    assert code == 0 and "BTCUSDT" in out


def test_demo_runs_offline_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "binmon", "demo", "--json", "-n", "30", "--rate", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # -n counts events; the demo's own account adds its collateral lines, and
    # its alerts (every kind) an alert line whenever an event raises one.
    assert len([r for r in rows if r["type"] in ("asset_index", "contract_info")]) == 30
    assert {r["type"] for r in rows} <= {"asset_index", "contract_info", "collateral", "alert"}
    for alert in (r for r in rows if r["type"] == "alert"):
        assert alert["kind"] in KINDS
        assert alert["symbol"] is None or alert["symbol"] in alert["message"]
    assert "no network used" in result.stderr
