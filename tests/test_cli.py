"""Each command and option through click's CliRunner, against a real local server."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from click.testing import CliRunner

from binmon import __version__
from binmon.cli import cli
from tests.exchange import FakeExchange, asset_frame, contract_frame, hold, symbol_info


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def every_command() -> list[str]:
    return sorted(cli.commands)


@pytest.mark.parametrize("name", every_command())
def test_every_command_has_help_with_an_example(name: str) -> None:
    code, out, _ = invoke(name, "--help")
    assert code == 0
    assert "Examples:" in out
    assert f"binmon {name}" in out.split("Examples:")[1]


@pytest.mark.parametrize("name", every_command())
def test_the_listing_shows_each_commands_own_short_help(name: str) -> None:
    from binmon.commands import SHORT_HELP

    _, out, _ = invoke("--help")
    assert cli.commands[name].get_short_help_str() == SHORT_HELP[name]
    assert f"  {name}  " in out and SHORT_HELP[name] in out


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["upcoming", "--help"]])
def test_commands_are_imported_only_when_wanted(args: list[str]) -> None:
    # A fresh interpreter: which command modules did it import?
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from binmon.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('binmon.commands.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1].replace("'", '"')))
    commands = {f"binmon.commands.{name}" for name in every_command()}
    # A command runs after the config file is read (binmon.commands.config).
    wanted = {f"binmon.commands.{name}" for name in (args[0], "config") if name[0] != "-"}
    assert loaded & commands == (wanted if args[0][0] != "-" else set())


HELP_SCRIPT = """
import contextlib, io, sys
import click
from binmon import cli
if sys.argv[1] == "stock":
    cli.BinmonGroup.context_class = click.Context  # click's own terminal size rule
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
    cli.main(["--help"])
print(out.getvalue(), end="")
print("shutil imported:", "shutil" in sys.modules)
"""


@pytest.mark.parametrize("columns", ["60", "100", "200", "", "nonsense"])
def test_help_is_as_wide_as_clicks_own_and_imports_no_shutil(columns: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": columns}

    def run(which: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", HELP_SCRIPT, which],
            capture_output=True, text=True, check=True, env=env, stdin=subprocess.DEVNULL,
        ).stdout  # fmt: skip

    ours, stock = run("ours"), run("stock")
    assert ours.endswith("shutil imported: False\n")
    assert ours.removesuffix("shutil imported: False\n") == stock.rsplit("shutil imported:", 1)[0]
    assert "Examples:" in ours


def test_top_level_help_and_version() -> None:
    code, out, _ = invoke("--help")
    assert code == 0 and "Examples:" in out
    for name in ("watch", "assets", "contracts"):
        assert name in out
    code, out, _ = invoke("--version")
    assert code == 0 and __version__ in out


def test_bad_flag_is_a_usage_error() -> None:
    code, _, err = invoke("assets", "--no-such-flag")
    assert code == 2
    assert "No such option" in err
    assert "Traceback" not in err


def test_speed_without_from_is_a_usage_error() -> None:
    code, _, err = invoke("assets", "--speed", "2")
    assert code == 2 and "--speed goes with --from" in err


@pytest.mark.parametrize("flag", ["--ws-url", "--rest-url"])
def test_invalid_url_is_one_line_and_exit_1(flag: str) -> None:
    code, out, err = invoke("assets", flag, "ftp://nowhere")
    assert code == 1
    assert err.startswith("Error: invalid") and err.count("\n") == 1
    assert out == ""


@pytest.fixture
def streaming(exchange: FakeExchange) -> FakeExchange:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if "contractInfo" in request.query_string:
            await ws.send_str(contract_frame(10, "BTCUSDT", "SETTLING"))
            await ws.send_str(contract_frame(11, "NEWUSDT", "PENDING_TRADING", st=1))
            await ws.send_str(contract_frame(12, "BTCUSD_PERP", "TRADING", st=2, ct="PERPETUAL"))
            await ws.send_str(contract_frame(13, "ETHUSDT", "TRADING", ct="NEXT_QUARTER"))
        else:
            for k in range(1, 4):
                await ws.send_str(asset_frame(k * 1000, ("ADAUSD", "BTCUSD", "USDTUSD")))
        await hold(ws)

    exchange.script = script
    exchange.exchange_info = {
        "symbols": [
            symbol_info("BTCUSDT"),
            symbol_info("ETHUSDT"),
            symbol_info("BTCUSD_PERP"),
        ]
    }
    return exchange


def test_assets_json_with_count(streaming: FakeExchange) -> None:
    code, out, err = invoke("assets", "--json", "-n", "4", *streaming.args())
    assert code == 0, err
    rows = lines(out)
    assert [(r["symbol"], r["event_time"]) for r in rows] == [
        ("ADAUSD", 1000),
        ("BTCUSD", 1000),
        ("USDTUSD", 1000),
        ("ADAUSD", 2000),
    ]
    assert all(r["type"] == "asset_index" for r in rows)
    assert '"index_price":0.27462452,"bid_buffer":0.10000000' in out
    assert streaming.paths[0] == "/market/stream?streams=!assetIndex@arr"


def test_assets_per_asset_streams_and_symbol_glob(streaming: FakeExchange) -> None:
    code, out, _ = invoke("assets", "btcusd", "EthUsd", "-n", "1", "-s", "b*", *streaming.args())
    assert code == 0
    assert streaming.paths[0] == "/market/stream?streams=btcusd@assetIndex/ethusd@assetIndex"
    assert [r["symbol"] for r in lines(out)] == ["BTCUSD"]


def test_json_is_the_default_when_piped(streaming: FakeExchange) -> None:
    code, out, _ = invoke("assets", "-n", "1", *streaming.args())
    assert code == 0 and lines(out)[0]["symbol"] == "ADAUSD"


def test_raw_gives_events_exactly_as_received(streaming: FakeExchange) -> None:
    code, out, _ = invoke("assets", "--raw", "-n", "2", *streaming.args())
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith('{"e":"assetIndexUpdate","i":"0.27462452"')
    assert json.loads(first)["s"] == "ADAUSD"


def test_contracts_changes_from_the_snapshot(streaming: FakeExchange) -> None:
    code, out, err = invoke("contracts", "--json", "-n", "4", *streaming.args())
    assert code == 0, err
    by_symbol = {r["symbol"]: r for r in lines(out)}
    assert by_symbol["BTCUSDT"]["changes"] == [
        {"field": "status", "old": "TRADING", "new": "SETTLING"}
    ]
    assert by_symbol["NEWUSDT"]["changes"] == [
        {"field": "listed", "old": None, "new": "PENDING_TRADING"}
    ]
    assert by_symbol["NEWUSDT"]["market"] == "UM"
    assert by_symbol["BTCUSD_PERP"]["changes"] == []
    assert by_symbol["ETHUSDT"]["changes"] == [
        {"field": "contract_type", "old": "PERPETUAL", "new": "NEXT_QUARTER"}
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "settling"], ["BTCUSDT"]),
        (
            ["--status", "TRADING", "--status", "PENDING_TRADING"],
            ["NEWUSDT", "BTCUSD_PERP", "ETHUSDT"],
        ),
        (["--type", "next_quarter"], ["ETHUSDT"]),
        (["--market", "cm"], ["BTCUSD_PERP"]),
        (["--market", "UM"], ["BTCUSDT", "NEWUSDT", "ETHUSDT"]),
        (["-s", "*usdt", "--changes-only"], ["BTCUSDT", "NEWUSDT", "ETHUSDT"]),
        (["--changes-only", "-s", "btc*"], ["BTCUSDT"]),
    ],
)
def test_contract_filters(streaming: FakeExchange, args: list[str], expected: list[str]) -> None:
    code, out, _ = invoke("contracts", *args, "--duration", "0.8", *streaming.args())
    assert code == 0
    assert [r["symbol"] for r in lines(out)] == expected


def test_watch_writes_both_streams(streaming: FakeExchange) -> None:
    code, out, _ = invoke("watch", "--json", "-n", "13", *streaming.args())
    assert code == 0
    kinds = {r["type"] for r in lines(out)}
    assert kinds == {"asset_index", "contract_info"}


def test_duration_stops_and_exits_0(streaming: FakeExchange) -> None:
    code, out, _ = invoke("assets", "--duration", "0.5", *streaming.args())
    assert code == 0
    assert len(lines(out)) == 9


def test_environment_variables_give_the_urls(streaming: FakeExchange) -> None:
    env = {"BINMON_WS_URL": streaming.ws_url, "BINMON_REST_URL": streaming.rest_url}
    code, out, _ = invoke("assets", "-n", "1", env=env)
    assert code == 0 and len(lines(out)) == 1


def test_verbosity_before_and_after_the_command(streaming: FakeExchange) -> None:
    _, _, err = invoke("-q", "assets", "-n", "1", *streaming.args())
    assert err == ""
    _, _, err = invoke("assets", "-n", "1", "-q", *streaming.args())
    assert err == ""
    _, _, err = invoke("assets", "-n", "1", *streaming.args())
    assert err != ""  # progress, which -q silences


def test_451_is_fatal_with_one_line(exchange: FakeExchange) -> None:
    exchange.upgrade_status = 451
    code, out, err = invoke("assets", *exchange.args())
    assert code == 1
    assert out == ""
    assert err.splitlines()[-1].startswith("Error: WebSocket upgrade")
    assert "451" in err and "Traceback" not in err


def test_testnet_urls() -> None:
    from binmon.endpoints import endpoints

    e = endpoints(None, None, True)
    assert e.ws_url == "wss://fstream.binancefuture.com"
    assert e.rest_url == "https://testnet.binancefuture.com"
    assert endpoints("ws://x", None, True).ws_url == "ws://x"


def test_stale_after_recycles_a_silent_stream(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(n))
        await hold(ws)

    exchange.script = script
    code, out, _ = invoke("assets", "--stale-after", "0.3", "-n", "3", *exchange.args())
    assert code == 0
    assert [r["event_time"] for r in lines(out)][::2] == [1, 2]
    # The first connection never closed: binmon left it for its silence.
    assert exchange.connections >= 2


def test_max_connection_age_rotates(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str(asset_frame(n))
        await hold(ws)

    exchange.script = script
    code, _, _ = invoke(
        "contracts", "--max-connection-age", "1", "--duration", "2.6", *exchange.args()
    )
    assert code == 0
    # No connection ever fails here: a second one is the rotation the flag asked for.
    # (tests/test_connection.py checks, in-process, that it takes over seamlessly.)
    assert exchange.connections >= 2


@pytest.mark.parametrize(
    "args",
    [
        ["--ws-url", "ws://127.0.0.1:99999"],
        ["--ws-url", "ws://127.0.0.1:abc"],
        ["--rest-url", "http://127.0.0.1:99999"],
        ["--ws-url", "ws://host/extra path"],
    ],
)
def test_unusable_urls_are_one_line_errors(args: list[str]) -> None:
    code, out, err = invoke("contracts", "--json", *args)
    assert code == 1 and out == ""
    assert err.startswith("Error: invalid") and err.count("\n") == 1


def test_rest_rate_limit_honours_retry_after(streaming: FakeExchange) -> None:
    streaming.rest_failures = [(429, {"Retry-After": "1"})]
    code, out, err = invoke("contracts", "--json", "-n", "1", *streaming.args())
    assert code == 0
    assert "HTTP 429" in err and "retrying in 1.0s" in err
    assert "b'" not in err
    # The snapshot arrived after the wait: changes are computed against it.
    assert lines(out)[0]["changes"] == [{"field": "status", "old": "TRADING", "new": "SETTLING"}]
