"""binmon as a real process: pipes closed early, Ctrl-C, python -m."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from aiohttp import web

from tests.exchange import FakeExchange, asset_frame, hold
from tests.waiting import wait_until_sync

BINMON = [sys.executable, "-m", "binmon"]


def endless(exchange: FakeExchange) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for k in range(200):
            await ws.send_str(asset_frame(k, tuple(f"A{i}USD" for i in range(20))))
        await hold(ws)

    exchange.script = script


def test_head_closing_the_pipe_is_silent(exchange: FakeExchange) -> None:
    endless(exchange)
    command = " ".join([*BINMON, "assets", "--json", *exchange.args()])
    result = subprocess.run(
        f"set -o pipefail; {command} | head -1",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.startswith('{"type":"asset_index","symbol":"A0USD"')
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "Error" not in result.stderr and "Broken pipe" not in result.stderr
    assert result.returncode == 0


def wait_for_output(process: subprocess.Popen[bytes], marker: bytes, timeout: float = 15) -> bytes:
    stderr = process.stderr
    assert stderr is not None
    seen = bytearray()
    os.set_blocking(stderr.fileno(), False)

    def arrived() -> bool:
        seen.extend(stderr.read() or b"")
        return marker in seen

    wait_until_sync(arrived, timeout, what=lambda: f"{marker!r} on stderr; got {bytes(seen)!r}")
    return bytes(seen)


def test_ctrl_c_exits_130_without_a_traceback(exchange: FakeExchange) -> None:
    endless(exchange)
    process = subprocess.Popen(
        [*BINMON, "assets", "--json", *exchange.args()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = wait_for_output(process, b"connected to")
    process.send_signal(signal.SIGINT)
    process.wait(15)
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), True)
    rest = seen + process.stderr.read()
    assert process.returncode == 130
    assert b"Traceback" not in rest


def test_unreachable_host_keeps_retrying_until_the_duration(tmp_path: object) -> None:
    result = subprocess.run(
        [*BINMON, "assets", "--ws-url", "ws://127.0.0.1:9", "--duration", "1.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    # Each retry is one line on stderr (SPEC); 1.5 s of backoff holds several.
    assert len(result.stderr.splitlines()) >= 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_451_as_a_process(exchange: FakeExchange) -> None:
    exchange.upgrade_status = 451
    result = subprocess.run(
        [*BINMON, "assets", *exchange.args()], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "451" in errors[0]
    assert "Traceback" not in result.stderr
