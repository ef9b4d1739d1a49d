"""Holdings, positions and signed bracket seeding against `binmon serve`, as a user runs them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from binmon.cli import cli
from binmon.server import DEMO_API_KEY, DEMO_API_SECRET, ServerConfig
from binmon.signed_rest import Credentials
from tests.exchange import FakeExchange, asset_frame
from tests.test_end_to_end import Served

KEYS = {"BINANCE_API_KEY": DEMO_API_KEY, "BINANCE_API_SECRET": DEMO_API_SECRET}
NO_KEYS: dict[str, str | None] = {"BINANCE_API_KEY": None, "BINANCE_API_SECRET": None}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served(ServerConfig(rate=50, seed=11)) as server:
        yield server


def invoke(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={**NO_KEYS, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=Decimal) for line in out.splitlines()]


def test_hold_values_each_held_frame_exactly(served: Served) -> None:
    code, out, err = invoke(
        "assets", "--json", "-n", "200", "--hold", "btc=0.5", "--hold", "USDT=-1000.25",
        "--hold", "NOPE=7", *served.args(),
    )  # fmt: skip
    assert code == 0, err
    lines = rows(out)
    reports = [r for r in lines if r["type"] == "collateral"]
    assert len(reports) >= 2
    latest: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line["type"] == "asset_index":
            latest[line["symbol"]] = line
            continue
        # Each report values the latest entries written before it, exactly.
        btc, usdt, nope = line["assets"]
        for held, quantity, side in (
            (btc, Decimal("0.5"), "bid"),
            (usdt, Decimal("-1000.25"), "ask"),
        ):
            entry = latest[held["symbol"]]
            rate = entry[f"{side}_rate"]
            assert held["quantity"] == quantity and held["rate"] == rate
            assert held["value"] == quantity * rate
            assert held["haircut"] == quantity * entry["index_price"] - quantity * rate
            assert held["haircut"] >= 0
        assert line["event_time"] == latest["BTCUSD"]["event_time"]
        assert nope == {
            "asset": "NOPE", "symbol": "NOPEUSD", "quantity": 7, "index_price": None,
            "rate": None, "value": None, "haircut": None,
        }  # fmt: skip
        assert line["total_value"] == btc["value"] + usdt["value"]
        assert line["total_haircut"] == btc["haircut"] + usdt["haircut"]
    assert "e+" not in out.lower() and "e-" not in out.lower()


def test_an_asset_never_indexed_is_named_once(tmp_path: Path) -> None:
    # A recording of five frames a second apart: the warning waits 3 s of exchange time.
    recording = tmp_path / "five.jsonl"
    recording.write_text(
        "".join(
            json.dumps(
                {"recv_time": t, "stream": "!assetIndex@arr", "data": json.loads(frame)["data"]}
            )
            + "\n"
            for t in range(1000, 6000, 1000)
            for frame in [asset_frame(t, ("BTCUSD", "ADAUSD"))]
        )
    )
    code, out, err = invoke(
        "assets", "--json", "--from", str(recording), "--hold", "nope=1", "--hold", "BTC=2"
    )
    assert code == 0, err
    reports = [r for r in rows(out) if r["type"] == "collateral"]
    assert len(reports) == 5
    assert all(r["assets"][0]["value"] is None and r["assets"][1]["value"] for r in reports)
    assert err.count("NOPE is not valued: no asset index entry NOPEUSD has been seen") == 1


def _symbols(served: Served) -> list[str]:
    url = f"http://127.0.0.1:{served.port}/fapi/v1/exchangeInfo"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return [s["symbol"] for s in json.load(answer)["symbols"]]


def _rest_ladders(served: Served) -> dict[str, Any]:
    import asyncio

    from binmon.signed_rest import SignedClient

    async def fetch() -> dict[str, Any]:
        client = SignedClient(
            f"http://127.0.0.1:{served.port}", Credentials(DEMO_API_KEY, DEMO_API_SECRET)
        )
        async with client:
            return {i.symbol: i for i in await client.leverage_brackets()}

    return asyncio.run(fetch())


def _comparable(ladder: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    # REST has no min leverage: compare everything else.
    keys = (
        "bracket",
        "notional_floor",
        "notional_cap",
        "maint_margin_ratio",
        "cum",
        "max_leverage",
    )
    return [tuple(b[k] for k in keys) for b in ladder]


def test_positions_and_seeded_brackets_with_a_key(served: Served) -> None:
    positions = [f"--position={s}=250000" for s in _symbols(served)]
    rest = _rest_ladders(served)
    code, out, err = invoke(
        "contracts", "--json", "--duration", "3", *positions, *served.args(), env=KEYS
    )
    assert code == 0, err
    seen: set[str] = set()
    moved = first_compared = 0
    for line in rows(out):
        symbol, ladder = line["symbol"], line["brackets"]
        bracket_changes = [c for c in line["changes"] if "bracket" in c]
        if ladder and symbol not in seen and symbol in rest:
            # The first ladder of a symbol is compared with the signed snapshot.
            rest_ladder = [
                {"bracket": b.bracket, "notional_floor": Decimal(b.notional_floor),
                 "notional_cap": Decimal(b.notional_cap),
                 "maint_margin_ratio": Decimal(b.maint_margin_ratio), "cum": Decimal(b.cum),
                 "max_leverage": Decimal(b.max_leverage or "0")}
                for b in rest[symbol].brackets
            ]  # fmt: skip
            same = _comparable(rest_ladder) == _comparable(ladder)
            assert (not bracket_changes) == same, line
            assert all(c["field"] != "min_leverage" for c in bracket_changes)
            first_compared += not same
        if ladder:
            seen.add(symbol)
        position = line.get("position")
        if position is None or not ladder:
            continue
        # As `brackets --notional` computes it, on this event's ladder.
        held = [b for b in ladder if b["notional_floor"] <= 250000 < b["notional_cap"]]
        if not held:
            assert position["bracket"] is None and position["maintenance_margin"] is None
            continue
        [b] = held
        assert position == {
            "notional": 250000, "bracket": b["bracket"], "max_leverage": b["max_leverage"],
            "maint_margin_ratio": b["maint_margin_ratio"],
            "maintenance_margin": 250000 * b["maint_margin_ratio"] - b["cum"],
        }  # fmt: skip
        assert ("position_before" in line) == bool(bracket_changes)
        moved += "position_before" in line
    assert moved and first_compared, "the scenario changed no brackets in 3 s"


def test_without_a_key_nothing_is_seeded(served: Served) -> None:
    code, out, err = invoke("contracts", "--json", "--duration", "1", *served.args())
    assert code == 0, err
    seen: set[str] = set()
    for line in rows(out):
        if line["brackets"] and line["symbol"] not in seen:
            # Nothing known before this ladder: it is not a change.
            assert not [c for c in line["changes"] if "bracket" in c], line
            seen.add(line["symbol"])
        assert "position" not in line
    assert seen


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["assets", "--hold", "BTC=1e3"], None, "--hold: quantity must be a plain decimal"),
        (["assets", "--hold", "BTC=1,000"], None, "no exponent, no thousands separators"),
        (["assets", "--hold", "BTC"], None, "expected ASSET=QTY"),
        (["assets", "--hold", "BTC=1", "--hold", "btc=2"], None, "BTC is given more than once"),
        (["watch", "--hold", "BTC=1", "--account"], KEYS, "--hold and --account cannot"),
        (["assets", "--account"], None, "BINANCE_API_KEY and BINANCE_API_SECRET are not set"),
        (["contracts", "--account"], {"BINANCE_API_KEY": "k"}, "BINANCE_API_SECRET is not set"),
        (["contracts", "--position", "BTCUSDT=-5"], None, "--position: notional must be"),
        (["contracts", "--hold", "BTC=1"], None, "No such option '--hold'"),
        (["assets", "--position", "BTCUSDT=1"], None, "No such option '--position'"),
    ],
)
def test_bad_use_is_exit_2_before_any_request(
    exchange: FakeExchange, args: list[str], env: dict[str, str] | None, words: str
) -> None:
    code, out, err = invoke(
        *args, "--json", "--duration", "5", *exchange.args(), env=dict(env or {})
    )
    assert code == 2 and out == ""
    assert words in err
    assert exchange.connections == 0 and exchange.exchange_info_requests == 0
    assert DEMO_API_SECRET not in err
