"""The config file through the CLI: ``binmon config``, precedence, and real runs it shapes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from binmon.cli import cli
from binmon.server import ServerConfig
from binmon.server.app import start_server
from tests.exchange import FakeExchange, symbol_info

BINMON = [sys.executable, "-m", "binmon"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def invoke(*args: str, config: Path | None, **env: str) -> tuple[int, str, str]:
    # Without a file of its own a test keeps the suite's (absent) one.
    environ = {**({"BINMON_CONFIG": str(config)} if config else {}), **env}
    result = CliRunner().invoke(cli, list(args), env=environ)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def rows(out: str) -> dict[str, tuple[str, str]]:
    """``binmon config COMMAND``'s rows: option -> (value, source)."""
    found = {}
    for line in out.splitlines():
        if line.startswith("  --"):
            option, value, source = line.split(maxsplit=2)
            found[option] = (value, source)
    return found


def test_config_shows_the_settings_in_effect_and_where_they_come_from(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'count = 3\nws_url = "ws://top:1"\nport = 9000\n'
        '[watch]\nsymbol = ["BTC*"]\n"stale-after" = 5\nmarket = "CM"\n',
    )
    code, out, err = invoke("config", "watch", config=path, BINMON_REST_URL="http://env:2")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Config file: {path} (from $BINMON_CONFIG)"
    found = rows(out)
    assert found["--count"] == ("3", "file, top level")
    assert found["--ws-url"] == ('"ws://top:1"', "file, top level")
    assert found["--symbol"] == ('["BTC*"]', "file, [watch]")
    assert found["--stale-after"] == ("5.0", "file, [watch]")
    assert found["--market"] == ('"cm"', "file, [watch]")
    assert found["--rest-url"] == ('"http://env:2"', "env BINMON_REST_URL")
    assert found["--json"] == ("false", "default")
    assert "--port" not in found  # serve's option: not watch's business
    # The environment variable beats the file.
    _, out, _ = invoke("config", "watch", config=path, BINMON_WS_URL="ws://env:3")
    assert rows(out)["--ws-url"] == ('"ws://env:3"', "env BINMON_WS_URL")


def test_config_without_a_command_lists_and_checks_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'count = 3\n[upcoming]\nmarket = "um"\n')
    code, out, _ = invoke("config", config=path)
    assert code == 0
    assert "  count = 3\n" in out and '[upcoming]\n  market = "um"\n' in out
    # A mistake in one command's table: that command (and the check) fail, others run.
    write(tmp_path, "[serve]\nprot = 1\n")
    code, _, err = invoke("config", config=path)
    assert code == 2
    assert err == (
        f'Error: config file {path}: key "prot" in [serve]: `binmon serve` has no --prot '
        "option (did you mean port?)\n"
    )
    assert invoke("config", "watch", config=path)[0] == 0
    assert invoke("config", "serve", config=path)[0] == 2


def test_missing_file_is_fine(tmp_path: Path) -> None:
    code, out, err = invoke("config", "upcoming", config=tmp_path / "none.toml")
    assert (code, err) == (0, "")
    assert "(no such file: built-in defaults apply)" in out.splitlines()[0]
    assert {source for _, source in rows(out).values()} == {"default"}


def test_unknown_command_for_config() -> None:
    code, _, err = invoke("config", "wacth", config=None)
    assert code == 2 and "no command 'wacth'" in err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("count = 3\n[watch\n", "not valid TOML: Expected ']' at the end of a table declaration"),
        ('count = "3"\n', 'top-level key "count": expected an integer, got a string ("3")'),
        ("[assets]\nfrom_fil = 1\n", 'key "from_fil" in [assets]: `binmon assets` has no'),
        ("speed_up = 2\n", 'top-level key "speed_up": no command has a --speed-up option'),
    ],
)  # fmt: skip
def test_a_bad_file_stops_a_command_with_exit_2(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    code, out, err = invoke("assets", "--json", config=path)
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: config file {path}: {problem}")
    assert err.count("\n") == 1


def test_a_bad_file_as_a_process(tmp_path: Path) -> None:
    path = write(tmp_path, "[watch]\ncount = 0\n")
    result = subprocess.run(
        [*BINMON, "watch", "--json"],
        env={**os.environ, "BINMON_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f'Error: config file {path}: key "count" in [watch]: 0 is not in the range x>=1.\n'
    )


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("upcoming", config=tmp_path)  # a directory
    assert code == 2 and err.startswith(f"Error: config file {tmp_path}: cannot read it (")


def test_help_shows_file_defaults_and_xdg_config_home(tmp_path: Path) -> None:
    (tmp_path / "binmon").mkdir()
    (tmp_path / "binmon" / "config.toml").write_text("[watch]\nstale_after = 5\n")
    env = {k: v for k, v in os.environ.items() if k != "BINMON_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    help_run = CliRunner().invoke(
        cli, ["watch", "--help"], env={"BINMON_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert help_run.exit_code == 0, help_run.output
    assert "been silent this long. [default: 5.0; x>=0.1]" in " ".join(help_run.stdout.split())
    # And a process started the way a shell starts it.
    result = subprocess.run(
        [*BINMON, "config", "watch"], env=env, capture_output=True, text=True, timeout=30
    )
    assert f"Config file: {tmp_path}/binmon/config.toml (set $BINMON_CONFIG" in result.stdout
    assert rows(result.stdout)["--stale-after"] == ("5.0", "file, [watch]")


def test_file_settings_shape_a_real_upcoming_run(tmp_path: Path, exchange: FakeExchange) -> None:
    future = 4_000_000_000_000
    exchange.exchange_info = {
        "symbols": [
            {**symbol_info("NEWUSDT", "PENDING_TRADING"), "onboardDate": future},
            {**symbol_info("NEWUSD_PERP"), "onboardDate": future + 1, "quoteAsset": "USD"},
        ]
    }
    path = write(
        tmp_path,
        f'rest-url = "{exchange.rest_url}"\nverbose = 1\n[upcoming]\nmarket = "cm"\n',
    )
    code, out, err = invoke("upcoming", config=path)
    assert code == 0, err
    assert [json.loads(line)["symbol"] for line in out.splitlines()] == ["NEWUSD_PERP"]
    # -v from the file: the debug lines a -v flag would give.
    assert f"GET {exchange.rest_url}/fapi/v1/exchangeInfo" in err
    # A flag beats the file.
    code, out, _ = invoke("upcoming", "--market", "um", config=path)
    assert [json.loads(line)["symbol"] for line in out.splitlines()] == ["NEWUSDT"]


async def test_count_from_the_file_stops_assets_and_flags_and_env_win(tmp_path: Path) -> None:
    runner, port = await start_server(ServerConfig(rate=50.0, seed=2), "127.0.0.1", 0)
    good = f"ws://127.0.0.1:{port}"
    # The file's URL is unusable: only the environment variable lets the run connect.
    path = write(tmp_path, 'ws-url = "ws://127.0.0.1:1"\n[assets]\ncount = 3\n')
    environ = {**os.environ, "BINMON_CONFIG": str(path), "BINMON_WS_URL": good}
    try:
        outputs = []
        for extra in ([], ["-n", "5"]):
            process = await asyncio.create_subprocess_exec(
                *BINMON, "assets", "--json", *extra, env=environ,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err
            outputs.append([json.loads(line) for line in out.splitlines()])
    finally:
        await runner.cleanup()
    from_file, from_flag = outputs
    assert len(from_file) == 3 and len(from_flag) == 5
    assert {line["type"] for line in from_file + from_flag} == {"asset_index"}


def test_the_readme_example_is_a_valid_file(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = write(tmp_path, example)
    code, _, err = invoke("config", config=path)
    assert (code, err) == (0, "")
    assert rows(invoke("config", "watch", config=path)[1])["--contract-sort"] == (
        '"symbol"',
        "file, [watch]",
    )
