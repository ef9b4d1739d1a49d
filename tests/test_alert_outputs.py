"""Where alerts go besides the JSON lines and the tables."""

from __future__ import annotations

import io
from pathlib import Path

from binmon.alert_outputs import AlertOutputs
from binmon.alerts import Alert
from binmon.diag import Diagnostics

CUT = Alert("leverage-cut", "BTCUSDT", 1, "BTCUSDT leverage cut: bracket 1 max leverage 125 → 100")


async def test_bell_exec_and_notify_each_hear_every_alert(tmp_path: Path) -> None:
    bell, err = io.StringIO(), io.StringIO()
    log = tmp_path / "log"
    outputs = AlertOutputs(
        Diagnostics(err),
        exec_command=f'echo "$BINMON_ALERT_KIND" >> {log}',
        notify=True,
        bell=bell,
    )
    outputs.notifier.address = f"unix:path={tmp_path}/no-bus"  # type: ignore[union-attr]
    outputs.start()
    outputs.alert(CUT)
    outputs.alert(Alert("feed", None, None, "asset index stream delivering again after 3s"))
    await outputs.finish(None)
    assert bell.getvalue() == "\a\a"
    assert log.read_text() == "leverage-cut\nfeed\n" or log.read_text() == "feed\nleverage-cut\n"
    # No desktop here: one warning, and everything else went on.
    assert err.getvalue().count("--notify: no desktop notifications") == 1


async def test_a_closed_terminal_stops_the_bell_and_nothing_else() -> None:
    bell = io.StringIO()
    outputs = AlertOutputs(Diagnostics(io.StringIO()), bell=bell)
    bell.close()
    outputs.alert(CUT)
    assert outputs.bell is None
    await outputs.finish(0)


def test_alert_outputs_keep_the_accelerated_asset_path() -> None:
    from binmon.consumer import Fanout
    from binmon.sinks import JsonLinesSink

    fanout = Fanout([JsonLinesSink(io.BytesIO()), AlertOutputs(Diagnostics(io.StringIO()))])
    assert fanout.takes_encoded_assets
