"""Where alerts go besides the JSON lines and the tables: ``--exec``,
``--notify``, and ``--bell`` when the tables are not there to ring it.

A consumer like any other: it hears of every alert through the fan-out and
hands it to outputs that never wait (bounded queues on the event loop).
Ending is asynchronous: commands still queued or running are given time, and
what could not be done is reported.
"""

from __future__ import annotations

from typing import TextIO

from binmon.alert_exec import AlertExec
from binmon.alerts import Alert
from binmon.consumer import Consumer
from binmon.defaults import EXEC_TIMEOUT
from binmon.diag import Diagnostics
from binmon.notify import DesktopNotifier

BEL = "\a"


class AlertOutputs(Consumer):
    # Alerts only: asset events are not wanted, so the C accelerator stays in use.
    wants_asset_events = False

    def __init__(
        self,
        diag: Diagnostics,
        *,
        exec_command: str | None = None,
        notify: bool = False,
        bell: TextIO | None = None,
        exec_timeout: float = EXEC_TIMEOUT,
    ) -> None:
        self.exec = None
        if exec_command is not None:
            self.exec = AlertExec(exec_command, diag, timeout=exec_timeout)
        self.notifier = DesktopNotifier(diag) if notify else None
        self.bell = bell

    def start(self) -> None:
        """On the running loop: reach the desktop now, so a missing one is said at once."""
        if self.notifier is not None:
            self.notifier.start()

    def alert(self, alert: Alert) -> None:
        if self.exec is not None:
            self.exec.submit(alert)
        if self.notifier is not None:
            self.notifier.submit(alert)
        if self.bell is not None:
            try:
                self.bell.write(BEL)
                self.bell.flush()
            except (OSError, ValueError):
                self.bell = None  # the terminal is gone; the alert went elsewhere

    async def finish(self, grace: float | None) -> None:
        """Let queued work run, at most ``grace`` seconds (None: until it is done)."""
        if self.exec is not None:
            await self.exec.close(grace)
        if self.notifier is not None:
            await self.notifier.close(1.0 if grace is None else min(grace, 1.0))
