"""Holdings, positions and signed bracket seeding against `binmon serve`, as a user runs them."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from binmon.cli import cli
from binmon.protocol import ContractInfo, decode_message
from binmon.server import DEMO_API_KEY, DEMO_API_SECRET, ServerConfig
from binmon.signed_rest import Credentials
from tests.exchange import ASSET, FakeExchange, asset_frame, contract_frame
from tests.test_end_to_end import Served
from tests.waiting import wait_until

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
        # Each report values its frame's entries, exactly: those written before
        # it, but for the last frame, which -n 200 may cut short after BTCUSD
        # (it is valued whole: test_a_frame_count_cuts_short_is_valued_whole).
        btc, usdt, nope = line["assets"]
        for held, quantity, side in (
            (btc, Decimal("0.5"), "bid"),
            (usdt, Decimal("-1000.25"), "ask"),
        ):
            rate, index = held["rate"], held["index_price"]
            assert held["quantity"] == quantity
            assert held["value"] == quantity * rate
            assert held["haircut"] == quantity * index - quantity * rate
            assert held["haircut"] >= 0
            entry = latest[held["symbol"]]
            if line is not reports[-1] or entry["event_time"] == line["event_time"]:
                assert (rate, index) == (entry[f"{side}_rate"], entry["index_price"])
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


def _priced_recording(path: Path, frames: int = 4) -> dict[tuple[int, str], dict[str, str]]:
    """Frames of BTCUSD, ETHUSD and USDTUSD, each entry with prices of its own;
    returns every entry by (event time, symbol)."""
    entries: dict[tuple[int, str], dict[str, str]] = {}
    lines = []
    for n in range(frames):
        t = 1_000 + 1_000 * n
        data = []
        for k, symbol in enumerate(("BTCUSD", "ETHUSD", "USDTUSD")):
            index = Decimal(f"{k + 1}{n}.12345678")
            entry = {
                **ASSET, "E": t, "s": symbol, "i": str(index),
                "B": str(index - Decimal("0.5")), "A": str(index + Decimal("0.25")),
            }  # fmt: skip
            entries[t, symbol] = entry
            data.append(entry)
        lines.append(json.dumps({"recv_time": t, "stream": "!assetIndex@arr", "data": data}))
    path.write_text("\n".join(lines) + "\n")
    return entries


def test_a_held_asset_is_valued_whether_shown_or_not(tmp_path: Path) -> None:
    recording = tmp_path / "priced.jsonl"
    entries = _priced_recording(recording)
    code, out, err = invoke(
        "assets", "--json", "--from", str(recording), "-s", "BTC*",
        "--hold", "ETH=2", "--hold", "USDT=-3", "--hold", "BTC=1",
    )  # fmt: skip
    assert code == 0, err
    lines = rows(out)
    assert {r["symbol"] for r in lines if r["type"] == "asset_index"} == {"BTCUSD"}
    reports = [r for r in lines if r["type"] == "collateral"]
    assert [r["event_time"] for r in reports] == [1000, 2000, 3000, 4000]
    for report in reports:
        t = report["event_time"]
        eth, usdt, btc = report["assets"]
        # Valued from entries -s does not show: ETH at its bid rate, a debt at the ask.
        assert eth["rate"] == Decimal(entries[t, "ETHUSD"]["B"])
        assert eth["value"] == 2 * Decimal(entries[t, "ETHUSD"]["B"])
        assert usdt["rate"] == Decimal(entries[t, "USDTUSD"]["A"])
        assert usdt["value"] == -3 * Decimal(entries[t, "USDTUSD"]["A"])
        assert btc["value"] == Decimal(entries[t, "BTCUSD"]["B"])
        assert report["total_value"] == eth["value"] + usdt["value"] + btc["value"]
    assert "not valued" not in err


@pytest.mark.parametrize("holds", [("USDT=-3",), ("BTC=1", "USDT=-3")])
def test_a_frame_count_cuts_short_is_valued_whole(tmp_path: Path, holds: tuple[str, ...]) -> None:
    recording = tmp_path / "priced.jsonl"
    entries = _priced_recording(recording)
    code, out, err = invoke(
        "assets", "--json", "--from", str(recording), "-n", "1",
        *(arg for hold in holds for arg in ("--hold", hold)),
    )  # fmt: skip
    assert code == 0, err
    first, report, *rest = rows(out)
    assert rest == []
    assert first["type"] == "asset_index" and first["symbol"] == "BTCUSD"
    # The first frame carried USDTUSD, though -n 1 wrote only its first entry.
    assert report["type"] == "collateral" and report["event_time"] == 1000
    usdt = report["assets"][-1]
    assert usdt["asset"] == "USDT"
    assert usdt["value"] == -3 * Decimal(entries[1000, "USDTUSD"]["A"])


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


def _comparable_rest(item: Any) -> list[tuple[Any, ...]]:
    return [
        (b.bracket, Decimal(b.notional_floor), Decimal(b.notional_cap),
         Decimal(b.maint_margin_ratio), Decimal(b.cum), Decimal(b.max_leverage or "0"))
        for b in item.brackets
    ]  # fmt: skip


class LadderWatch:
    """Every ladder the server publishes on !contractInfo while it runs, per
    symbol, from a WebSocket of its own: what a seed taken meanwhile may be."""

    def __init__(self, served: Served) -> None:
        self.url = f"ws://127.0.0.1:{served.port}/market/stream?streams=!contractInfo"
        self.ladders: dict[str, list[list[tuple[Any, ...]]]] = {}
        self.connected = threading.Event()
        self.stop = threading.Event()

    def __enter__(self) -> LadderWatch:
        self.thread = threading.Thread(target=asyncio.run, args=(self._watch(),), daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "could not watch the contract stream"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    async def _watch(self) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self.connected.set()
            while not self.stop.is_set():
                try:
                    message = await ws.receive(timeout=0.1)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                for event in decode_message(message.data).events:
                    if isinstance(event, ContractInfo) and event.brackets:
                        ladder = [
                            (b.bracket, Decimal(b.notional_floor), Decimal(b.notional_cap),
                             Decimal(b.maint_margin_ratio), Decimal(b.cum),
                             Decimal(b.max_leverage))
                            for b in event.brackets
                        ]  # fmt: skip
                        self.ladders.setdefault(event.symbol, []).append(ladder)


_FIELDS = ("notional_floor", "notional_cap", "maint_margin_ratio", "cum", "max_leverage")


def _diffed_from(ladder: list[tuple[Any, ...]], changes: list[dict[str, Any]]) -> bool:
    """True when every bracket change's old value is this ladder's."""
    old = {b[0]: b for b in ladder}
    return all(
        c["bracket"] in old and old[c["bracket"]][1 + _FIELDS.index(c["field"])] == c["old"]
        for c in changes
        if c["field"] in _FIELDS
    )


def test_positions_and_seeded_brackets_with_a_key(served: Served) -> None:
    positions = [f"--position={s}=250000" for s in _symbols(served)]
    # binmon reads its own snapshot between these two: each symbol's seed is
    # `before` or a ladder published after it (which the watch sees).
    with LadderWatch(served) as watch:
        before = _rest_ladders(served)
        code, out, err = invoke(
            "contracts", "--json", "--duration", "3", *positions, *served.args(), env=KEYS
        )
        after = _rest_ladders(served)
    assert code == 0, err
    seen: set[str] = set()
    moved = first_compared = 0
    for line in rows(out):
        symbol, ladder = line["symbol"], line["brackets"]
        bracket_changes = [c for c in line["changes"] if "bracket" in c]
        if ladder and symbol not in seen and symbol in before and symbol in after:
            # The first ladder of a symbol is compared with the signed snapshot.
            assert all(c["field"] != "min_leverage" for c in bracket_changes)
            if bracket_changes:
                # What it was compared with: the seed, from before the change.
                seeds = [_comparable_rest(before[symbol]), *watch.ladders.get(symbol, [])]
                assert any(_diffed_from(ladder, bracket_changes) for ladder in seeds), line
                first_compared += 1
            elif _comparable_rest(before[symbol]) == _comparable_rest(after[symbol]):
                # Unchanged around the run: binmon's seed was this ladder. (A ladder the
                # scenario moved meanwhile may have been seeded at any of its states.)
                assert _comparable(ladder) == _comparable_rest(before[symbol]), line
        if ladder:
            seen.add(symbol)
        position = line.get("position")
        if position is None or not ladder or (symbol in before and before[symbol].personal):
            continue  # personal brackets (ETHUSDT's): see the next tests
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
    assert any(item.personal for item in before.values())


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


def _serve_account(served: Served) -> dict[str, Any]:
    import asyncio

    from binmon.signed_rest import SignedClient

    async def fetch() -> dict[str, Any]:
        client = SignedClient(
            f"http://127.0.0.1:{served.port}", Credentials(DEMO_API_KEY, DEMO_API_SECRET)
        )
        async with client:
            answer: dict[str, Any] = json.loads(await client.signed_get("/fapi/v3/account"))
            return answer

    return asyncio.run(fetch())


def test_account_holdings_from_serve_refreshed(served: Served) -> None:
    code, out, err = invoke(
        "-v", "assets", "--json", "--account", "--account-every", "1", "--duration", "1.6",
        *served.args(), env=KEYS,
    )  # fmt: skip
    assert code == 0, err
    assert err.count("account: 4 holdings") >= 2  # read at start, and again a second later
    reports = [r for r in rows(out) if r["type"] == "collateral"]
    account = _serve_account(served)
    # The account's non-zero margin balances, in its order, valued like --hold ones.
    expected = [a["asset"] for a in account["assets"] if Decimal(a["marginBalance"]) != 0]
    assert [a["asset"] for a in reports[-1]["assets"]] == expected == ["USDT", "BTC", "ETH", "BNB"]
    usdt = [r["assets"][0] for r in reports]
    assert all(u["quantity"] < 0 and u["value"] == u["quantity"] * u["rate"] for u in usdt)
    # The balances move with the scenario's prices: a refresh shows in the lines.
    assert len({u["quantity"] for u in usdt}) >= 2
    assert DEMO_API_SECRET not in out + err


def test_a_failed_account_refresh_keeps_the_holdings(served: Served) -> None:
    from tests.test_signed_rest import KEY, SECRET, SignedExchange, ThreadedExchange

    # Streams from serve; the account from a signed stand-in whose second read fails.
    fake = SignedExchange(failing_accounts={2})
    with ThreadedExchange(fake) as rest:
        code, out, err = invoke(
            "assets", "--json", "--account", "--account-every", "1", "--duration", "2.5",
            "--ws-url", f"ws://127.0.0.1:{served.port}", "--rest-url", rest.url,
            env={"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET},
        )  # fmt: skip
    assert code == 0, err
    assert fake.account_calls >= 3  # read, failed, read again
    assert err.count("account refresh failed") == 1 and "keeping the last holdings" in err
    reports = [r for r in rows(out) if r["type"] == "collateral"]
    # Before, during and after the failure: the account's holdings; the stream never paused.
    assert reports and all(
        [(a["asset"], a["quantity"]) for a in r["assets"]]
        == [("USDT", Decimal("-120.25000000")), ("BTC", Decimal("0.02000000"))]
        for r in reports
    )
    times = [r["event_time"] for r in reports]
    assert times == sorted(times) and len(times) >= 50  # 50 frames a second throughout


def _ladder(rows: list[tuple[int, int, str, str, int]]) -> list[dict[str, Any]]:
    return [
        {"bs": n, "bnf": floor, "bnc": cap, "mmr": mmr, "cf": cum, "mi": 1, "ma": lev}
        for n, (floor, cap, mmr, cum, lev) in enumerate(rows, start=1)
    ]


def test_personal_brackets_are_used_for_positions_and_never_diffed(tmp_path: Path) -> None:
    before = _ladder([(0, 50000, "0.004", "0", 125), (50000, 250000, "0.005", "50", 100)])
    after = _ladder([(0, 50000, "0.005", "0", 100), (50000, 250000, "0.0065", "75", 75)])
    recording = tmp_path / "brackets.jsonl"
    lines = []
    for t, ladder in ((0, before), (1000, after)):
        for symbol in ("BTCUSDT", "ETHUSDT"):
            event = {
                "e": "contractInfo", "E": 1_800_000_000_000 + t, "s": symbol, "ps": symbol,
                "ct": "PERPETUAL", "dt": 4133404800000, "ot": 1569398400000, "cs": "TRADING",
                "bks": ladder,
            }  # fmt: skip
            lines.append(
                {"recv_time": 1_800_000_000_000 + t, "stream": "!contractInfo", "data": event}
            )
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with Served(ServerConfig(from_file=recording)) as server:
        personal = _rest_ladders(server)["ETHUSDT"]
        code, out, err = invoke(
            "contracts", "--json", "--duration", "1.7", "--position", "ETHUSDT=60000",
            "--position", "BTCUSDT=60000", *server.args(), env=KEYS,
        )  # fmt: skip
    assert code == 0, err
    assert personal.personal and personal.notional_coef == "1.5"
    assert [b.notional_cap for b in personal.brackets] == ["75000", "375000"]
    by = {(r["symbol"], r["event_time"] % 10_000): r for r in rows(out)}
    assert len(by) == 4
    # BTCUSDT: default brackets, seeded from REST: the first event matches them, the
    # second moves the position (60000 × 0.005 − 50 = 250 → 60000 × 0.0065 − 75 = 315).
    first, second = by[("BTCUSDT", 0)], by[("BTCUSDT", 1000)]
    assert first["changes"] == [] and "position_before" not in first
    assert first["position"]["maintenance_margin"] == 250
    assert {c["field"] for c in second["changes"]} == {"maint_margin_ratio", "cum", "max_leverage"}
    assert second["position_before"]["maintenance_margin"] == 250
    assert second["position"]["maintenance_margin"] == 315
    # ETHUSDT: the user's own brackets (notionalCoef 1.5: bracket 1 now ends at 75000), used
    # for the maths (60000 × 0.004 = 240) and never compared with the stream's.
    first, second = by[("ETHUSDT", 0)], by[("ETHUSDT", 1000)]
    assert first["changes"] == []
    for line in (first, second):
        assert line["position"] == {
            "notional": 60000, "bracket": 1, "max_leverage": 125,
            "maint_margin_ratio": Decimal("0.004"), "maintenance_margin": 240,
        }  # fmt: skip
        assert "position_before" not in line
    assert second["changes"]  # the stream's own ladders are still compared with each other


def test_the_first_events_meet_the_accounts_positions(served: Served, tmp_path: Path) -> None:
    account = _serve_account(served)
    symbol = next(p["symbol"] for p in account["positions"] if Decimal(p["notional"]) != 0)
    ladder = _ladder([(0, 10**12, "0.01", "0", 50)])
    recording = tmp_path / "one.jsonl"
    data = json.loads(contract_frame(1_000, symbol, bks=ladder))["data"]
    recording.write_text(
        json.dumps({"recv_time": 1_000, "stream": "!contractInfo", "data": data}) + "\n"
    )
    code, out, err = invoke(
        "contracts", "--json", "--from", str(recording), "--speed", "1", "--account",
        "--rest-url", f"http://127.0.0.1:{served.port}", env=KEYS,
    )  # fmt: skip
    assert code == 0, err
    (line,) = rows(out)
    # Read at start: the replay waited for the account, so its only event has the
    # position (its size moves with serve's scenario: not compared).
    assert line["symbol"] == symbol
    assert line["position"]["notional"] > 0 and line["position"]["bracket"] == 1


class SilentRest:
    """A REST server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentRest:
        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._writers.append(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


def _account_runner(exchange: FakeExchange, rest_url: str, **config: Any) -> tuple[Any, io.BytesIO]:
    from binmon.diag import Diagnostics
    from binmon.env import Environment
    from binmon.run_config import Endpoints, RunConfig
    from binmon.runner import ASSETS, Runner

    out, err = io.BytesIO(), io.StringIO()
    run_config = RunConfig(
        kinds=(ASSETS,),
        endpoints=Endpoints(exchange.ws_url, rest_url),
        json=True,
        account=True,
        credentials=Credentials(DEMO_API_KEY, DEMO_API_SECRET),
        seed_wait=60,  # the account read hangs: only what the test does ends the run
        **config,
    )
    return Runner(run_config, Environment(stdout=out, stderr=err), Diagnostics(err)), out


async def test_waiting_for_the_account_holds_back_events_but_not_the_end(
    exchange: FakeExchange,
) -> None:
    async with SilentRest() as rest:
        # --duration counts from the start, the first account read still pending.
        runner, out = _account_runner(exchange, rest.url, duration=0.3)
        await asyncio.wait_for(runner.run(), 20)
        assert rest.connections == 1 and exchange.connections == 0 and out.getvalue() == b""
        # So does a stop (SIGTERM, q in the view) while it is pending.
        runner, out = _account_runner(exchange, rest.url)
        task = asyncio.create_task(runner.run())
        await wait_until(lambda: rest.connections == 2, what="the account read under way")
        runner.stop.set()
        await asyncio.wait_for(task, 20)
        assert exchange.connections == 0 and out.getvalue() == b""
