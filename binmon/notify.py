"""``--notify``: alerts as desktop notifications, through the freedesktop
notification service (``org.freedesktop.Notifications.Notify``) on the D-Bus
session bus.

jeepney speaks D-Bus in pure Python on our own event loop: no C library,
no thread. Where there is no session bus or no notification service, one
warning says so and alerts go on everywhere else; a notification never
holds up the streams (a bounded queue, one sender).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any, Final

from binmon.alerts import DELISTING, FEED, LEVERAGE_CUT, POSITION, Alert
from binmon.diag import Diagnostics, printable

BUS_NAME: Final = "org.freedesktop.Notifications"
OBJECT_PATH: Final = "/org/freedesktop/Notifications"
INTERFACE: Final = "org.freedesktop.Notifications"
APP_NAME: Final = "binmon"
# A desktop that takes longer than this to answer is treated as absent.
CALL_TIMEOUT: Final = 5.0
QUEUE_LIMIT: Final = 64
# The specification's urgency levels; what takes money or the feed away is critical.
_CRITICAL: Final = frozenset({LEVERAGE_CUT, DELISTING, POSITION, FEED})


def session_bus_address(environ: dict[str, str] | None = None) -> str | None:
    """``DBUS_SESSION_BUS_ADDRESS``, else the systemd user bus, else None."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").exists():
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


def _escape_markup(text: str) -> str:
    # Servers that advertise "body-markup" read the body as a subset of
    # HTML: text from the network must stay text there too.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DesktopNotifier:
    def __init__(
        self,
        diag: Diagnostics,
        *,
        address: str | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.diag = diag
        self.address = address
        self.sent = 0
        self.dropped = 0
        self.server: str | None = None
        self.available: bool | None = None  # None: not known yet
        self._markup = False
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(queue_limit)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connect in the background (call on the event loop's thread)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, alert: Alert) -> None:
        """Queue a notification; never waits."""
        if self.available is False:
            return
        self.start()
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1
            self.diag.warn(
                f"--notify: the desktop is not keeping up; {self.dropped} notification(s) "
                "dropped so far",
                key="notify-dropped",
            )

    async def close(self, grace: float = 1.0) -> None:
        """Send what is queued (at most ``grace`` seconds), then disconnect."""
        if self._task is None:
            return
        if self.available is not False and not self._queue.empty():
            joined = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({joined, self._task}, timeout=grace, return_when="FIRST_COMPLETED")
            joined.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- the sender -------------------------------------------------------------

    def _unavailable(self, why: str) -> None:
        self.available = False
        self.diag.warn(f"--notify: no desktop notifications ({why}); alerts go on elsewhere")
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    async def _run(self) -> None:
        from jeepney.io.asyncio import open_dbus_router

        address = self.address or session_bus_address()
        if address is None:
            self._unavailable("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set")
            return
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                opened = open_dbus_router(bus=address)
                router = await opened.__aenter__()
        except (OSError, EOFError, RuntimeError, ValueError, KeyError, TimeoutError) as exc:
            self._unavailable(
                f"cannot reach the D-Bus session bus at {printable(address)}: "
                f"{printable(exc) or type(exc).__name__}"
            )
            return
        try:
            if await self._hello(router):
                await self._send_all(router)
        finally:
            with contextlib.suppress(Exception):
                await opened.__aexit__(None, None, None)

    async def _call(
        self, router: Any, method: str, signature: str | None = None, body: tuple[Any, ...] = ()
    ) -> tuple[Any, ...]:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        target = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
        message = new_method_call(target, method, signature, body)
        async with asyncio.timeout(CALL_TIMEOUT):
            reply = await router.send_and_get_reply(message)
        result: tuple[Any, ...] = unwrap_msg(reply)
        return result

    async def _hello(self, router: Any) -> bool:
        """Is a notification service there? Learn its name and whether it reads markup."""
        from jeepney.io.common import RouterClosed
        from jeepney.wrappers import DBusErrorResponse

        try:
            name, vendor, version, _spec = await self._call(router, "GetServerInformation")
            (capabilities,) = await self._call(router, "GetCapabilities")
        except DBusErrorResponse as exc:
            self._unavailable(f"no notification service on the session bus: {printable(exc.name)}")
            return False
        except (OSError, EOFError, TimeoutError, ValueError, RouterClosed) as exc:
            self._unavailable(
                f"the notification service did not answer: {printable(exc) or type(exc).__name__}"
            )
            return False
        self.available = True
        self.server = f"{name} {version} ({vendor})"
        self._markup = "body-markup" in capabilities
        self.diag.debug(f"--notify: desktop notifications through {printable(self.server)}")
        return True

    async def _send_all(self, router: Any) -> None:
        from jeepney.io.common import RouterClosed
        from jeepney.wrappers import DBusErrorResponse

        while True:
            alert = await self._queue.get()
            try:
                await self._notify(router, alert)
                self.sent += 1
            except DBusErrorResponse as exc:
                self.diag.warn(
                    f"--notify: the desktop refused a notification: {printable(exc.name)}",
                    key="notify-failed",
                )
            except (OSError, EOFError, TimeoutError, ValueError, RouterClosed) as exc:
                self._unavailable(
                    f"the notification service went away: {printable(exc) or type(exc).__name__}"
                )
                return
            finally:
                self._queue.task_done()

    async def _notify(self, router: Any, alert: Alert) -> None:
        summary = f"binmon: {alert.kind}" + (
            f" {printable(alert.symbol, 60)}" if alert.symbol else ""
        )
        body = _escape_markup(alert.message) if self._markup else alert.message
        hints = {
            "urgency": ("y", 2 if alert.kind in _CRITICAL else 1),
            "category": ("s", "binmon.alert"),
        }
        await self._call(
            router,
            "Notify",
            "susssasa{sv}i",
            (APP_NAME, 0, "", summary, body, [], hints, -1),
        )
