"""record → --from: a replay gives the same JSON lines as the live run."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from binmon.cli import cli
from tests.exchange import FakeExchange, asset_frame, contract_frame, hold, symbol_info
from tests.waiting import wait_until_sync

SNAPSHOT = {
    "symbols": [
        symbol_info("BTCUSDT"),
    ]
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def by_type(stdout: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"asset_index": [], "contract_info": []}
    for line in stdout.splitlines():
        out[json.loads(line)["type"]].append(line)
    return out


@pytest.fixture
def scripted(exchange: FakeExchange) -> FakeExchange:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        if "contractInfo" in request.query_string:
            await ws.send_str(contract_frame(10, "BTCUSDT", "SETTLING"))
            await ws.send_str(contract_frame(11, "NEWUSDT", "PENDING_TRADING"))
            await ws.send_str(contract_frame(12, "NEWUSDT", "TRADING"))
        else:
            for k in range(5):
                await ws.send_str(asset_frame(k, ("ADAUSD", "BTCUSD")))
        await hold(ws)

    exchange.script = script
    exchange.exchange_info = SNAPSHOT
    return exchange


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_replay_reproduces_the_live_run(scripted: FakeExchange, tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    code, live, _ = invoke("watch", "--json", "-n", "13", *scripted.args())
    assert code == 0
    code, _, err = invoke("record", path, "-n", "13", *scripted.args())
    assert code == 0 and "recorded" in err
    code, replayed, _ = invoke("watch", "--from", path)
    assert code == 0
    assert by_type(replayed) == by_type(live)
    assert len(by_type(live)["contract_info"]) == 3
    assert json.loads(by_type(replayed)["contract_info"][0])["changes"] == [
        {"field": "status", "old": "TRADING", "new": "SETTLING"}
    ]
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as f:
        first = json.loads(f.readline())
    assert set(first) == {"recv_time", "stream", "data"}


def test_replay_filters_by_command_and_options(scripted: FakeExchange, tmp_path: Path) -> None:
    path = str(tmp_path / "r.jsonl")
    invoke("record", path, "-n", "13", *scripted.args())
    _, out, _ = invoke("assets", "--from", path, "-s", "btc*")
    assert [json.loads(x)["symbol"] for x in out.splitlines()] == ["BTCUSD"] * 5
    _, out, _ = invoke("contracts", "--from", path, "--changes-only", "-n", "2")
    assert [json.loads(x)["symbol"] for x in out.splitlines()] == ["BTCUSDT", "NEWUSDT"]
    _, out, _ = invoke("assets", "--from", path, "--raw", "-n", "1")
    assert json.loads(out)["e"] == "assetIndexUpdate"


def test_bad_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.loads(asset_frame(1))
    path.write_text(
        "not json\n"
        + json.dumps({"recv_time": 1, "stream": "!assetIndex@arr", "data": good["data"]})
        + "\n"
        + json.dumps({"recv_time": 2, "stream": "!assetIndex@arr", "data": [{"e": "x"}]})
        + "\n"
    )
    code, out, err = invoke("assets", "--from", str(path))
    assert code == 0
    assert len(out.splitlines()) == 2
    assert "not a recorded frame" in err
    assert "malformed" in err


def test_speed_paces_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "paced.jsonl"
    frames = [
        {
            "recv_time": 1000 + 200 * k,
            "stream": "!assetIndex@arr",
            "data": json.loads(asset_frame(k))["data"],
        }
        for k in range(4)
    ]
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    started = time.monotonic()
    code, out, _ = invoke("assets", "--from", str(path), "--speed", "2")
    elapsed = time.monotonic() - started
    assert code == 0 and len(out.splitlines()) == 8
    # 600 ms of recording at twice the speed: at least 300 ms.
    assert elapsed >= 0.29


def test_missing_recording_is_one_line_error(tmp_path: Path) -> None:
    code, out, err = invoke("assets", "--from", str(tmp_path / "nope.jsonl"))
    assert code == 1 and out == ""
    assert err.startswith("Error: cannot open") and err.count("\n") == 1


def test_a_cut_off_recording_replays_what_is_complete(tmp_path: Path) -> None:
    frames = [
        json.dumps(
            {
                "recv_time": k,
                "stream": "!assetIndex@arr",
                "data": json.loads(asset_frame(k))["data"],
            }
        )
        for k in range(3)
    ]
    plain = tmp_path / "cut.jsonl"
    plain.write_text("\n".join(frames) + "\n" + frames[0][:40])
    code, out, err = invoke("assets", "--from", str(plain))
    assert code == 0 and len(out.splitlines()) == 6
    assert "incomplete" in err
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(("\n".join(frames) + "\n").encode())[:-12])
    code, out, err = invoke("assets", "--from", str(gz))
    assert code == 0 and len(out.splitlines()) >= 4
    assert "ends early" in err


def test_sigterm_closes_a_gzip_recording_properly(scripted: FakeExchange, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    path = tmp_path / "term.jsonl.gz"
    process = subprocess.Popen(
        [sys.executable, "-m", "binmon", "record", str(path), *scripted.args()],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "connected to" in line and "contract" in line:
            break
    wait_until_sync(lambda: path.exists() and path.stat().st_size > 0, what="the first frame")
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()  # a clean end-of-stream marker, or this raises
    assert lines and all(json.loads(line)["stream"] for line in lines)


def test_malformed_envelopes_are_recorded_too(exchange: FakeExchange, tmp_path: Path) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        await ws.send_str('{"stream":"!assetIndex@arr","data":[{"e":"assetIndexUpdate"}]}')
        await ws.send_str(asset_frame(1))
        await hold(ws)

    exchange.script = script
    path = tmp_path / "bad.jsonl"
    code, _, _ = invoke("record", str(path), "--only", "assets", "-n", "2", *exchange.args())
    assert code == 0
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
    assert recorded[0]["data"] == [{"e": "assetIndexUpdate"}]
    assert len(recorded) == 2


def test_a_line_that_is_not_utf8_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"recv_time": 1, "stream": "!assetIndex@arr", "data": json.loads(asset_frame(7))["data"]}
    path.write_bytes(
        b'{"recv_time":1,"stream":"\xff","data":1}\n' + json.dumps(good).encode() + b"\n"
    )
    result = CliRunner().invoke(cli, ["assets", "--from", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["event_time"] for line in result.stdout.splitlines()] == [7, 7]
    assert "1 line(s) were not recorded frames" in result.stderr


def _recording_lines() -> bytes:
    data = json.loads(asset_frame(1, ("ADAUSD", "BTCUSD")))["data"]
    return (json.dumps({"recv_time": 1, "stream": "!assetIndex@arr", "data": data}) + "\n").encode()


def test_every_reader_takes_gzip_by_its_contents_not_its_name(tmp_path: Path) -> None:
    renamed = tmp_path / "day.jsonl"  # gzip inside, a plain name outside
    renamed.write_bytes(gzip.compress(_recording_lines()))
    code, out, _ = invoke("assets", "--from", str(renamed))
    assert code == 0
    assert [json.loads(line)["symbol"] for line in out.splitlines()] == ["ADAUSD", "BTCUSD"]


def test_from_dash_reads_stdin(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["assets", "--from", "-"], input=_recording_lines())
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 2
