"""``binmon brackets`` without the network: --from files, JSON lines, tables, usage."""

from __future__ import annotations

import gzip
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from binmon.brackets_view import Ladder, brackets_table, render_symbol
from binmon.cli import cli, main
from binmon.env import Environment
from binmon.leverage import NotionalOutOfRange, position, read_brackets_file
from binmon.protocol import Bracket
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
SECRET = "s3cr3t-cmd-5e1f-never-print-me"

BTC_FRAME: dict[str, Any] = {
    "e": "contractInfo",
    "E": 1697379999314,
    "s": "BTCUSDT",
    "ps": "BTCUSDT",
    "ct": "PERPETUAL",
    "dt": 4133404800000,
    "ot": 1569398400000,
    "cs": "TRADING",
    "bks": [
        {"bs": 1, "bnf": 0, "bnc": 300000, "mmr": 0.004, "cf": 0, "mi": 101, "ma": 150},
        {"bs": 2, "bnf": 300000, "bnc": 800000, "mmr": 0.005, "cf": 300, "mi": 51, "ma": 100},
    ],
}
BTC_LINE = (
    '{"type":"brackets","symbol":"BTCUSDT","brackets":['
    '{"bracket":1,"notional_floor":0,"notional_cap":300000,"maint_margin_ratio":0.004,'
    '"cum":0,"min_leverage":101,"max_leverage":150},'
    '{"bracket":2,"notional_floor":300000,"notional_cap":800000,"maint_margin_ratio":0.005,'
    '"cum":300,"min_leverage":51,"max_leverage":100}]}'
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BINMON_REST_URL"):
        monkeypatch.delenv(name, raising=False)


def _recording(tmp_path: Path, name: str = "rec.jsonl") -> Path:
    older = dict(BTC_FRAME, E=1, bks=[dict(BTC_FRAME["bks"][0], ma=125)])
    eth = dict(BTC_FRAME, s="ETHUSDT", ps="ETHUSDT")
    lines = [
        {"recv_time": 1, "stream": "!contractInfo", "data": older},
        {"recv_time": 2, "stream": "!assetIndex@arr", "data": []},
        {"recv_time": 3, "stream": "!contractInfo", "data": BTC_FRAME},
        {"recv_time": 4, "stream": "!contractInfo", "data": dict(BTC_FRAME, E=5, bks=[])},
        {"recv_time": 5, "stream": "!contractInfo", "data": eth},
    ]
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


def _run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capfd.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


# --- help and usage ----------------------------------------------------------------


def test_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["brackets", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "binmon brackets BTCUSDT --notional 250000" in result.output
    for option in ("--notional", "--json", "--from", "--rest-url", "--testnet"):
        assert option in result.output


def test_no_key_and_no_from_is_exit_2(capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["brackets", "BTCUSDT"], capfd)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ")
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "--from"):
        assert name in err


@pytest.mark.parametrize("value", ["-5", "1e5", "abc", "250,000"])
def test_bad_notional_is_exit_2(
    value: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        ["brackets", "--from", str(_recording(tmp_path)), f"--notional={value}"], capfd
    )
    assert code == 2
    assert "--notional" in err and "Traceback" not in err


def test_missing_from_file_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["brackets", "--from", "/nonexistent/rec.jsonl"], capfd)
    assert code == 2 and "does not exist" in err


# --- --from and JSON lines ------------------------------------------------------------


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_from_recording_latest_brackets_as_json(
    name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["brackets", "btcusdt", "--from", str(_recording(tmp_path, name))], capfd)
    assert code == 0, err
    assert out == BTC_LINE + "\n"


def test_every_symbol_sorted(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["brackets", "--json", "--from", str(_recording(tmp_path))], capfd)
    assert code == 0
    assert [json.loads(line)["symbol"] for line in out.splitlines()] == ["BTCUSDT", "ETHUSDT"]


def test_from_contracts_json_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    brackets = json.loads(BTC_LINE)["brackets"]
    base = {
        "type": "contract_info",
        "symbol": "BTCUSDT",
        "event_time": 1,
        "pair": "BTCUSDT",
        "contract_type": "PERPETUAL",
        "status": "TRADING",
        "delivery_time": 4133404800000,
        "onboard_time": 1,
        "market": None,
        "changes": [],
    }
    lines = [
        dict(base, brackets=brackets),
        dict(base, brackets=None),  # no information
        dict(base, brackets=[]),  # no information either
        dict(base, symbol="XRPUSDT", brackets=None),
    ]
    path = tmp_path / "contracts.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, err = _run(["brackets", "BTCUSDT", "--from", str(path)], capfd)
    assert code == 0, err
    assert json.loads(out) == json.loads(BTC_LINE)
    code, out, err = _run(["brackets", "XRPUSDT", "BTCUSDT", "--from", str(path)], capfd)
    assert code == 1
    assert json.loads(out)["symbol"] == "BTCUSDT"  # what was found is still written
    assert err == f"Error: no brackets for XRPUSDT in {path}\n"


def test_notional_json_keys_and_exact_values(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rec = str(_recording(tmp_path))
    code, out, _ = _run(["brackets", "BTCUSDT", "--from", rec, "--notional", "250000.50"], capfd)
    assert code == 0
    assert out == BTC_LINE[:-1] + (
        ',"notional":250000.50,"bracket":1,"maintenance_margin":1000.002,"max_leverage":150}\n'
    )
    parsed = json.loads(out)
    assert list(parsed) == [
        "type",
        "symbol",
        "brackets",
        "notional",
        "bracket",
        "maintenance_margin",
        "max_leverage",
    ]
    # N == floor belongs to the bracket starting there.
    code, out, _ = _run(["brackets", "BTCUSDT", "--from", rec, "--notional", "300000"], capfd)
    assert code == 0
    assert out.endswith(
        ',"notional":300000,"bracket":2,"maintenance_margin":1200,"max_leverage":100}\n'
    )


def test_notional_at_last_cap_is_exit_1(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rec = str(_recording(tmp_path))
    code, out, err = _run(["brackets", "BTCUSDT", "--from", rec, "--notional", "800000"], capfd)
    assert code == 1
    assert out == ""  # no half-answer for scripts
    assert err == (
        "Error: BTCUSDT: notional 800000 is at or above the last bracket's cap (800000); "
        "no bracket holds this position\n"
    )


def test_real_data_notional_through_the_command(capfd: pytest.CaptureFixture[str]) -> None:
    path = DATA / "leverage_brackets.json"
    if not path.exists():
        pytest.skip(f"{path} not available")
    brackets = read_brackets_file(str(path)).found["ETHUSDT"]
    for b in brackets:
        n = b.notional_floor
        code, out, err = _run(["brackets", "ethusdt", "--from", str(path), "--notional", n], capfd)
        assert code == 0, err
        line = json.loads(out, parse_float=Decimal, parse_int=Decimal)
        assert line["bracket"] == b.bracket
        expected = Decimal(n) * Decimal(b.maint_margin_ratio) - Decimal(b.cum)
        assert line["maintenance_margin"] == expected
        assert str(line["max_leverage"]) == b.max_leverage
        raw = re.search(r'"maintenance_margin":([^,}]+)', out)
        assert raw is not None and "E" not in raw.group(1).upper()
    code, _, err = _run(
        ["brackets", "ETHUSDT", "--from", str(path), "--notional", brackets[-1].notional_cap], capfd
    )
    assert code == 1 and err.startswith("Error: ETHUSDT: notional")


def test_secret_never_printed_with_from(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "key")
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    rec = str(_recording(tmp_path))
    for args in (["-v", "brackets", "--from", rec], ["brackets", "-v", "NOPE", "--from", rec]):
        _, out, err = _run(args, capfd)
        assert SECRET not in out + err


def test_stdin_and_unreadable_files(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(
        cli, ["brackets", "--from", "-"], input=_recording(tmp_path).read_bytes()
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(BTC_LINE)
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"brackets": oops}\n')
    code, out, err = _run(["brackets", "--from", str(junk)], capfd)
    assert code == 1 and out == ""
    assert (
        err.splitlines()[-1]
        == f"Error: no leverage brackets found in {junk} (1 unreadable line(s))"
    )
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(_recording(tmp_path).read_bytes())[:40])
    code, _, err = _run(["brackets", "--from", str(truncated)], capfd)
    assert code == 1 and err.startswith(f"Error: cannot read {truncated}")


# --- tables ----------------------------------------------------------------------------


def _env(**kw: object) -> Environment:
    return Environment(
        stdout=io.BytesIO(),
        stderr=io.StringIO(),
        stdout_isatty=True,
        width=100,
        no_color=True,
        **kw,  # type: ignore[arg-type]
    )


def test_table_on_a_terminal(tmp_path: Path) -> None:
    env = _env()
    result = CliRunner().invoke(
        cli,
        ["brackets", "BTCUSDT", "--from", str(_recording(tmp_path)), "--notional", "250000"],
        obj=env,
    )
    assert result.exit_code == 0, result.output
    assert isinstance(env.stdout, io.BytesIO)
    text = env.stdout.getvalue().decode()
    assert "\x1b" not in text  # no colour when NO_COLOR
    row = next(line for line in text.splitlines() if "▶" in line)
    assert re.search(r"▶ │\s+1 │\s+0 │\s+300000 │\s+101x │\s+150x │\s+0\.40% │\s+0 │", row)
    assert "Notional 250000 is in bracket 1 (0 ≤ N < 300000): max leverage 150x\n" in text
    assert "Maintenance margin 1000 = 250000 × 0.004 − 0 " in text
    assert "Max leverage by notional (log scale)" in text
    assert "▲ 250000" in text
    # --json still wins on a terminal.
    env = _env()
    result = CliRunner().invoke(
        cli, ["brackets", "BTCUSDT", "--json", "--from", str(_recording(tmp_path))], obj=env
    )
    assert isinstance(env.stdout, io.BytesIO)
    assert env.stdout.getvalue().decode() == BTC_LINE + "\n"


def _console() -> Console:
    return Console(width=100, record=True, color_system=None, file=io.StringIO())


HOSTILE = "[bold red]EVIL\x1b[2J\x07USDT"


def test_hostile_symbol_is_shown_literally() -> None:
    brackets = (Bracket(1, "0", "5000", "0.01", "0", None, "50"),)
    console = _console()
    console.print(render_symbol(HOSTILE, brackets))
    text = console.export_text()
    assert "[bold red]EVIL\\x1b[2J\\x07USDT" in text
    assert "\x1b" not in text and "\x07" not in text
    # Through the command too, from a recording with that symbol.
    frame = dict(BTC_FRAME, s=HOSTILE)
    env = _env()
    path = io.BytesIO(
        (json.dumps({"recv_time": 1, "stream": "!contractInfo", "data": frame}) + "\n").encode()
    )
    result = CliRunner().invoke(cli, ["brackets", "--from", "-"], input=path, obj=env)
    assert result.exit_code == 0, result.output
    assert isinstance(env.stdout, io.BytesIO)
    out = env.stdout.getvalue().decode()
    assert "[bold red]EVIL\\x1b[2J\\x07USDT" in out and "\x1b" not in out


def test_table_digits_exact_and_percent() -> None:
    brackets = (
        Bracket(1, "0", "50000", "0.0040", "0.0", None, "125"),
        Bracket(2, "50000", "9223372036854775807", "0.00325", "50.0", None, "100"),
    )
    console = _console()
    console.print(brackets_table("BTCSTUSDT", brackets, selected=2))
    text = console.export_text()
    for cell in ("0.0", "50.0", "9223372036854775807", "0.40%", "0.325%", "125x", "100x"):
        assert cell in text
    assert re.search(r"▶ │\s+2 │", text)
    assert "Min" not in text  # REST brackets carry no min leverage


def test_ladder_picture_marks_the_notional() -> None:
    brackets = (
        Bracket(1, "0", "50000", "0.004", "0", None, "125"),
        Bracket(2, "50000", "600000", "0.005", "50", None, "100"),
        Bracket(3, "600000", "3000000", "0.0065", "950", None, "75"),
    )
    console = _console()
    console.print(Ladder(brackets, notional="250000", selected=2))
    lines = console.export_text().splitlines()
    assert lines[0] == "Max leverage by notional (log scale)"
    bars = lines[1:4]
    assert [line.split()[0] for line in bars] == ["125x", "100x", "75x"]
    starts = [len(line) - len(line.lstrip(" █").lstrip()) for line in bars]
    assert starts == sorted(starts)  # bars march right as notional grows
    first_bar = [i for i, c in enumerate(bars[0]) if c == "█"]
    second_bar = [i for i, c in enumerate(bars[1]) if c == "█"]
    assert first_bar[-1] < second_bar[0]
    marker_line = lines[-1]
    assert marker_line.strip() == "▲ 250000"
    marker_col = marker_line.index("▲")
    assert second_bar[0] <= marker_col <= second_bar[-1]
    assert any(label in lines[-2] for label in ("10k", "100k", "1M"))


def test_ascii_console_gets_ascii_picture() -> None:
    brackets = (Bracket(1, "0", "5000", "0.01", "0", None, "50"),)
    # rich takes the encoding from the file it writes to.
    file = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    console = Console(width=60, record=True, color_system=None, file=file)
    assert console.encoding == "ascii"
    console.print(
        render_symbol("XUSDT", brackets, notional="100", position=position(brackets, "100"))
    )
    text = console.export_text()
    assert "#" in text and "^ 100" in text
    assert "(0 <= N < 5000)" in text and "1 = 100 x 0.01 - 0" in text
    assert not any(ord(c) > 127 for c in file.buffer.getvalue().decode("ascii", "replace"))


def test_out_of_range_is_explained_in_the_table() -> None:
    brackets = (Bracket(1, "0", "5000", "0.01", "0", None, "50"),)
    try:
        position(brackets, "5000")
    except NotionalOutOfRange as exc:
        problem = exc
    console = _console()
    console.print(render_symbol("XUSDT", brackets, notional="5000", problem=problem))
    text = console.export_text()
    assert "No bracket holds this position: notional 5000 is at or above" in text
    assert "▶" not in text
