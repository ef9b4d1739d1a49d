"""``--exec``: real ``sh -c`` commands that succeed, fail, hang and do not exist,
while a real stream keeps flowing."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest
from aiohttp import web

from binmon.alert_exec import AlertExec
from binmon.alerts import Alert
from binmon.consumer import Consumer
from binmon.diag import Diagnostics
from binmon.protocol import AssetIndex
from tests.exchange import FakeExchange, asset_frame
from tests.streaming import streaming, url
from tests.waiting import wait_until

ALERT = Alert(
    "leverage-cut", "BTCUSDT", 1700000000000, "BTCUSDT leverage cut: bracket 1 max 125 → 100"
)


def _exec(command: str, **kwargs: float) -> tuple[AlertExec, io.StringIO]:
    stderr = io.StringIO()
    # warn_interval 0: every failure is its own line here.
    return AlertExec(command, Diagnostics(stderr, warn_interval=0), **kwargs), stderr  # type: ignore[arg-type]


async def test_a_command_gets_the_json_line_and_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner, stderr = _exec(
        f'cat > {out}.tmp; printf "%s|%s|%s" "$BINMON_ALERT_KIND" "$BINMON_ALERT_SYMBOL" '
        f'"$BINMON_ALERT_MESSAGE" >> {out}.tmp; mv {out}.tmp {out}'
    )
    runner.submit(ALERT)
    await wait_until(out.exists)
    line, env = out.read_text().split("\n")
    assert json.loads(line) == {
        "type": "alert",
        "kind": "leverage-cut",
        "symbol": "BTCUSDT",
        "event_time": 1700000000000,
        "message": ALERT.message,
    }
    assert env == f"leverage-cut|BTCUSDT|{ALERT.message}"
    await runner.close()
    assert runner.counts.run == 1 and runner.counts.failed == 0
    assert stderr.getvalue() == ""


async def test_a_feed_alert_has_an_empty_symbol(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner, _ = _exec(f'printf "[%s]" "$BINMON_ALERT_SYMBOL" > {out}')
    runner.submit(Alert("feed", None, None, "asset index stream not delivering for 30s"))
    await runner.close()
    assert out.read_text() == "[]"


async def test_a_failing_command_is_reported_with_what_it_said() -> None:
    runner, stderr = _exec("echo 'webhook said 500' >&2; exit 3")
    runner.submit(ALERT)
    await runner.close()
    assert runner.counts.failed == 1
    assert stderr.getvalue() == (
        "binmon: warning: --exec command for alert leverage-cut BTCUSDT exited with status 3: "
        "webhook said 500\n"
        "binmon: --exec: 1 alert command(s) run, 1 failed (0 timed out), 0 ended unfinished "
        "at exit; 0 alert(s) dropped because too many were waiting, 0 not run at exit\n"
    )


async def test_a_missing_command_is_reported_as_such() -> None:
    runner, stderr = _exec("binmon-no-such-command --flag")
    runner.submit(ALERT)
    await runner.close()
    first = stderr.getvalue().splitlines()[0]
    assert first.startswith(
        "binmon: warning: --exec command for alert leverage-cut BTCUSDT exited with status 127 "
        "(command not found): "
    )
    assert "binmon-no-such-command" in first


async def test_a_hanging_command_is_ended_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # The shell starts a child of its own and waits: both must go.
    runner, stderr = _exec(f"sleep 60 & echo $! > {pid_file}; wait", timeout=0.5)
    runner.submit(ALERT)
    await wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    child = int(pid_file.read_text())
    await runner.close()
    assert runner.counts.timed_out == 1
    assert "was still running after 0.5s and was ended" in stderr.getvalue()
    await wait_until(lambda: not _alive(child))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its (re)parent counts as ended.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_at_most_four_at_once_and_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    runner, stderr = _exec(f"touch {started}/$$; exec sleep 60", queue_limit=2)
    for i in range(10):
        runner.submit(Alert("listing", f"S{i}USDT", i, "listed"))
    await wait_until(lambda: len(list(started.iterdir())) == 4)
    assert runner.counts.dropped == 4  # 4 running, 2 waiting, 4 could not wait
    assert "an alert that could not wait was dropped (1 so far)" in stderr.getvalue()
    await runner.close(grace=0)
    assert len(list(started.iterdir())) == 4
    assert (runner.counts.not_run, runner.counts.ended) == (2, 4)
    assert stderr.getvalue().splitlines()[-1] == (
        "binmon: --exec: 4 alert command(s) run, 0 failed (0 timed out), 4 ended unfinished "
        "at exit; 4 alert(s) dropped because too many were waiting, 2 not run at exit"
    )


async def test_close_runs_what_is_queued(tmp_path: Path) -> None:
    done = tmp_path / "done"
    done.mkdir()
    runner, _ = _exec(f'read line; touch "{done}/$BINMON_ALERT_SYMBOL"', max_running=1)
    for i in range(5):
        runner.submit(Alert("listing", f"S{i}USDT", i, "listed"))
    await runner.close()
    assert sorted(p.name for p in done.iterdir()) == [f"S{i}USDT" for i in range(5)]


class _AlertPerFrame(Consumer):
    """Raises one alert per asset frame into ``--exec``."""

    def __init__(self, runner: AlertExec) -> None:
        self.runner = runner
        self.frames = 0

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self.frames += 1
        self.runner.submit(Alert("buffer", events[0].symbol, events[0].event_time, "x"))


@pytest.mark.parametrize(
    "command",
    ["exec sleep 60", "exit 1", "binmon-no-such-command", "cat >/dev/null"],
    ids=["hangs", "fails", "missing", "succeeds"],
)
async def test_the_stream_keeps_flowing_whatever_the_command_does(
    exchange: FakeExchange, command: str
) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request, n: int) -> None:
        for t in range(1, 100_000):
            await ws.send_str(asset_frame(t))
            await asyncio.sleep(0.005)

    exchange.script = script
    # The hanging command keeps the default 30 s: it is still running at the end.
    runner, stderr = _exec(command, queue_limit=8)
    sink = _AlertPerFrame(runner)
    async with streaming(url(exchange), sink=sink):
        # Four commands started and the queue full: the stream must not notice.
        await wait_until(lambda: runner.counts.run >= 4 and sink.frames > 20)
        seen = sink.frames
        await wait_until(lambda: sink.frames >= seen + 100)
        if command == "exec sleep 60":
            # Still the same four commands: nothing was held up behind them.
            assert runner.counts.run == 4 and runner.counts.dropped > 0
    await runner.close(grace=0)
    if command == "cat >/dev/null":
        assert runner.counts.failed == 0
    elif command == "exec sleep 60":
        assert runner.counts.ended == 4
    else:
        assert runner.counts.failed > 0
        assert "--exec command for alert buffer ADAUSD exited with status" in stderr.getvalue()
    # Every alert is accounted for: started, dropped, or never started at the close.
    c = runner.counts
    assert c.run + c.dropped + c.not_run == sink.frames
