"""``--notify`` against a real D-Bus session bus (``dbus-daemon``, started here)
with a minimal freedesktop notification service written with the same library."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import DBusConnection, open_dbus_connection

from binmon.alerts import Alert
from binmon.diag import Diagnostics
from binmon.notify import BUS_NAME, DesktopNotifier, session_bus_address
from tests.waiting import wait_until

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

CUT = Alert(
    "leverage-cut", "BTCUSDT", 1700000000000, "BTCUSDT leverage cut: bracket 3 <b>75</b> → 50"
)


def _cannot(reason: str) -> None:
    # CI installs dbus-daemon (.ci/run): there a missing bus is a failure.
    if os.environ.get("CI") == "1":
        pytest.fail(f"{reason}; CI=1 requires it")
    pytest.skip(reason)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    """A private session bus; no service on it can be activated."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        _cannot("dbus-daemon is not installed (Debian: apt-get install dbus-daemon)")
    config = tmp_path / "bus.conf"
    config.write_text(CONFIG.format(dir=tmp_path))
    process = subprocess.Popen(
        [daemon, "--config-file", str(config), "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    if not address:
        process.kill()
        _, err = process.communicate()
        _cannot(f"dbus-daemon cannot run here: {err.strip()}")
    try:
        yield address
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class NotificationService:
    """What a desktop's notification daemon does, as far as binmon cares."""

    capabilities: list[str] = field(default_factory=lambda: ["body"])
    refuse: bool = False
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def serve(self, connection: DBusConnection) -> None:
        while True:
            msg = await connection.receive()
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(3)  # HeaderFields.member
            if member == "GetServerInformation":
                reply = new_method_return(msg, "ssss", ("test-notifyd", "binmon tests", "1", "1.2"))
            elif member == "GetCapabilities":
                reply = new_method_return(msg, "as", (self.capabilities,))
            elif member == "Notify" and self.refuse:
                reply = new_error(msg, "org.freedesktop.Notifications.Error.Refused")
            elif member == "Notify":
                self.calls.append(msg.body)
                reply = new_method_return(msg, "u", (len(self.calls),))
            else:
                reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod")
            await connection.send(reply)


@contextlib.asynccontextmanager
async def service_on(address: str, service: NotificationService) -> AsyncIterator[None]:
    connection = await open_dbus_connection(address)
    await connection.send(message_bus.RequestName(BUS_NAME, 4))  # 4: do not queue
    task = asyncio.create_task(service.serve(connection))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()


def _notifier(address: str | None) -> tuple[DesktopNotifier, io.StringIO]:
    stderr = io.StringIO()
    return DesktopNotifier(Diagnostics(stderr), address=address), stderr


async def test_an_alert_becomes_a_desktop_notification(bus: str) -> None:
    service = NotificationService()
    async with service_on(bus, service):
        notifier, stderr = _notifier(bus)
        notifier.submit(CUT)
        notifier.submit(Alert("feed", None, None, "asset index stream delivering again after 45s"))
        notifier.submit(Alert("listing", "NEWUSDT", 5, "NEWUSDT listed: PERPETUAL"))
        await wait_until(lambda: len(service.calls) == 3)
        await notifier.close()
    app, replaces, icon, summary, body, actions, hints, timeout = service.calls[0]
    assert (app, replaces, icon, actions, timeout) == ("binmon", 0, "", [], -1)
    assert summary == "binmon: leverage-cut BTCUSDT"
    assert body == CUT.message  # this service reads no markup: the text as it is
    assert hints["urgency"] == ("y", 2)
    assert service.calls[1][3] == "binmon: feed"
    assert service.calls[2][6]["urgency"] == ("y", 1)
    assert notifier.server == "test-notifyd 1 (binmon tests)"
    assert stderr.getvalue() == ""


async def test_markup_is_escaped_where_the_service_reads_it(bus: str) -> None:
    service = NotificationService(capabilities=["body", "body-markup"])
    async with service_on(bus, service):
        notifier, _ = _notifier(bus)
        notifier.submit(CUT)
        await wait_until(lambda: len(service.calls) == 1)
        await notifier.close()
    assert service.calls[0][4] == "BTCUSDT leverage cut: bracket 3 &lt;b&gt;75&lt;/b&gt; → 50"


async def test_a_bus_without_a_notification_service_warns_once(bus: str) -> None:
    notifier, stderr = _notifier(bus)
    for _ in range(5):
        notifier.submit(CUT)
    await wait_until(lambda: notifier.available is False)
    notifier.submit(CUT)
    await notifier.close()
    assert stderr.getvalue() == (
        "binmon: warning: --notify: no desktop notifications (no notification service on the "
        "session bus: org.freedesktop.DBus.Error.ServiceUnknown); alerts go on elsewhere\n"
    )


async def test_a_refused_notification_is_reported_and_the_next_one_still_goes(bus: str) -> None:
    service = NotificationService(refuse=True)
    async with service_on(bus, service):
        notifier, stderr = _notifier(bus)
        notifier.submit(CUT)
        await wait_until(lambda: "refused" in stderr.getvalue())
        service.refuse = False
        notifier.submit(CUT)
        await wait_until(lambda: len(service.calls) == 1)
        await notifier.close()
    assert "org.freedesktop.Notifications.Error.Refused" in stderr.getvalue()


async def test_no_session_bus_at_all_warns_once(tmp_path: Path) -> None:
    notifier, stderr = _notifier(f"unix:path={tmp_path}/no-bus-here")
    notifier.submit(CUT)
    await wait_until(lambda: notifier.available is False)
    notifier.submit(CUT)
    await notifier.close()
    (line,) = stderr.getvalue().splitlines()
    assert line.startswith(
        f"binmon: warning: --notify: no desktop notifications (cannot reach the D-Bus session "
        f"bus at unix:path={tmp_path}/no-bus-here: "
    )


def test_where_the_session_bus_is_found(tmp_path: Path) -> None:
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "bus").touch()
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix:path={tmp_path}/bus"
    assert session_bus_address({}) is None


async def test_no_session_bus_address_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    notifier, stderr = _notifier(None)
    notifier.submit(CUT)
    await wait_until(lambda: notifier.available is False)
    await notifier.close()
    assert stderr.getvalue() == (
        "binmon: warning: --notify: no desktop notifications (no D-Bus session bus: "
        "DBUS_SESSION_BUS_ADDRESS is not set); alerts go on elsewhere\n"
    )
