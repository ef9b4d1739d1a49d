"""The live terminal view: a sink for the runner that owns the terminal while it runs.

- Draws on the alternate screen with a :class:`~binmon.view.paint.Painter`
  (what ``rich.live.Live(screen=True)`` does, without laying each line out
  three times) from
  its own loop: at most four paints a second, and only when data arrived, a stream's
  health changed, the terminal was resized, a highlight expired, or a second
  passed (ages and countdowns are clock-driven). A key wakes the loop at
  once: what it does is on screen without waiting for the next tick.
- Reads keys from stdin in cbreak mode, only when stdin is a terminal; the
  terminal is restored on every way out (``q``, Ctrl-C, an error, Ctrl-Z).
  Cbreak keeps ISIG, so Ctrl-C still raises KeyboardInterrupt as usual.
- While it owns the screen, diagnostics go to its footer instead of stderr
  (which would tear the alternate screen).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from binmon.alerts import Alert
from binmon.collateral import CollateralReport
from binmon.consumer import Consumer
from binmon.protocol import AssetIndex, ContractInfo
from binmon.state import Change, Contract
from binmon.view.format import safe
from binmon.view.model import (
    ASSET_SORTS,
    ASSETS,
    CONTRACT_SORTS,
    CONTRACTS,
    PROMPT_LIMIT,
    Now,
    ScreenModel,
)
from binmon.view.paint import Painter
from binmon.view.screen import render_screen
from binmon.view_input import ViewInput

# Ctrl-Z; absent on Windows.
_SIGTSTP: signal.Signals | None = getattr(signal, "SIGTSTP", None)

TICK = 0.25  # seconds between checks: also the cap on paints (4/s)
CLOCK_REFRESH = 1.0  # ages and countdowns move once a second

_KEYS_UP = (b"\x1b[A", b"\x1bOA", b"k")
_KEYS_DOWN = (b"\x1b[B", b"\x1bOB", b"j")
_KEYS_PAGE_UP = (b"\x1b[5~", b"b")
_KEYS_PAGE_DOWN = (b"\x1b[6~", b" ")
_KEYS_HOME = (b"\x1b[H", b"\x1bOH", b"\x1b[1~", b"g")
_KEYS_END = (b"\x1b[F", b"\x1bOF", b"\x1b[4~", b"G")
_KEYS_LEFT = (b"\x1b[D", b"\x1bOD", b"h")
# Cbreak keeps ICRNL: Enter arrives as \n, but a terminal without it sends \r.
_KEYS_ENTER = (b"\n", b"\r")
_KEYS_BACKSPACE = (b"\x7f", b"\x08")
_KEY_ESC = b"\x1b"
_KEY_KILL_LINE = b"\x15"  # Ctrl-U


class _Cbreak:
    """Cbreak mode on a terminal fd, restorable from anywhere, at most once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def enter(self) -> None:
        import termios
        import tty

        if self._saved is not None:
            return
        self._saved = termios.tcgetattr(self.fd)
        # If the process dies some other way, leave the shell usable anyway.
        atexit.register(self.leave)
        tty.setcbreak(self.fd, termios.TCSANOW)

    def leave(self) -> None:
        import termios

        saved, self._saved = self._saved, None
        if saved is None:
            return
        atexit.unregister(self.leave)
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)


class LiveView(Consumer):
    """Live tables on the terminal: a consumer of events that owns the terminal.

    ``sort`` (``symbol`` | ``change`` | ``price``) orders the asset table and
    ``contract_sort`` (``recent`` | ``symbol``) the contract table; both may
    be set before :meth:`run` and are cycled with the ``s`` and ``c`` keys.
    ``quit_requested`` is true once the user pressed ``q``.
    """

    def __init__(self, given: ViewInput) -> None:
        self.given = given
        self.model = ScreenModel(
            kinds=given.kinds,
            command=given.command,
            demo=given.demo,
            replay=given.replay,
            filters=given.filters,
            contracts=given.contracts,
            statuses=given.statuses,
            stale_after=given.stale_after,
            positions=given.positions,
        )
        # The REST seed returns every asset; per-asset streams asked for a few.
        self._wanted_assets = frozenset(a.upper() for a in given.assets) or None
        self.quit_requested = False
        self._dirty = True
        self._console: Console | None = None
        self._painter: Painter | None = None
        self._cbreak: _Cbreak | None = None
        self._stdin_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._diag_previous: Any = None
        self._diag_taken = False
        # Resolved by a key (or the stop) to end the current tick's wait early.
        self._waiter: asyncio.Future[None] | None = None
        # A key came while painting: the next wait ends at once.
        self._key_pending = False
        if given.sort:
            self.sort = given.sort
        if given.contract_sort:
            self.contract_sort = given.contract_sort

    # -- sort options ----------------------------------------------------------

    @property
    def sort(self) -> str:
        return self.model.asset_sort

    @sort.setter
    def sort(self, value: str) -> None:
        if value not in ASSET_SORTS:
            raise ValueError(f"sort must be one of {', '.join(ASSET_SORTS)}")
        self.model.asset_sort = value
        self._dirty = True

    @property
    def contract_sort(self) -> str:
        return self.model.contract_sort

    @contract_sort.setter
    def contract_sort(self, value: str) -> None:
        if value not in CONTRACT_SORTS:
            raise ValueError(f"contract sort must be one of {', '.join(CONTRACT_SORTS)}")
        self.model.contract_sort = value
        self.model.contract_offset = 0
        self._dirty = True

    # -- the consumer ------------------------------------------------------------

    wants_asset_snapshot = True

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        if not events:
            return
        now_ms = time.time() * 1000.0
        if self.model.replay is not None:
            now_ms = float(events[-1].event_time)  # highlights follow the recording's clock
        self.model.apply_assets(events, now_ms)
        self.model.lag_ms[ASSETS] = now_ms - events[-1].event_time
        if self.model.paused_at_ms is not None:
            self.model.paused_events += len(events)
        self._dirty = True

    def asset_snapshot(self, events: list[AssetIndex]) -> None:
        filters = self.model.filters
        wanted = self._wanted_assets
        keep = [
            e
            for e in events
            if filters.symbol_ok(e.symbol) and (wanted is None or e.symbol.upper() in wanted)
        ]
        self.model.apply_assets(keep, time.time() * 1000.0)
        self._dirty = True

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        self.model.apply_contract(event, changes)
        now_ms = time.time() * 1000.0
        positions = self.model.positions
        if positions is not None and changes:
            update = positions.for_event(event, changes)
            if update is not None:
                shown_at = float(event.event_time) if self.model.replay is not None else now_ms
                self.model.apply_position(update, shown_at)
        self.model.lag_ms[CONTRACTS] = now_ms - event.event_time
        if self.model.paused_at_ms is not None:
            self.model.paused_events += 1
        self._dirty = True

    def collateral(self, report: CollateralReport) -> None:
        self.model.collateral = report
        self._dirty = True

    def alert(self, alert: Alert) -> None:
        now_ms = time.time() * 1000.0
        if self.model.replay is not None and alert.event_time is not None:
            now_ms = float(alert.event_time)  # the screen follows the recording's clock
        self.model.apply_alert(alert, now_ms)
        self._dirty = True
        if self.given.bell and self._console is not None:
            self._console.bell()

    def contract_snapshot(self, contracts: Sequence[Contract]) -> None:
        self.model.contracts_version += 1
        self._dirty = True

    def close(self) -> None:
        self._release_terminal()

    # -- running -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        stopped = asyncio.ensure_future(stop.wait())
        stopped.add_done_callback(lambda _: self._wake())
        try:
            self._take_terminal()
            last_paint = -1e9
            last_shape: tuple[Any, ...] | None = None
            flash_end: float | None = None
            while not stop.is_set() and not self.quit_requested:
                size = self._measure()
                shape = (size, self._health())
                mono = time.monotonic()
                wall = time.time() * 1000.0
                if (
                    self._dirty
                    or shape != last_shape
                    or mono - last_paint >= CLOCK_REFRESH
                    or (flash_end is not None and wall >= flash_end)
                ):
                    self._dirty = False
                    last_shape, last_paint = shape, mono
                    self._paint(*size)
                    flash_end = self.model.next_flash_expiry()
                await self._wait()
        finally:
            stopped.cancel()
            self._release_terminal()

    async def _wait(self) -> None:
        """One tick, or less when stopped or woken by a key: one future and
        one timer, as cheap as ``asyncio.sleep``."""
        if self._key_pending:
            self._key_pending = False
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(TICK, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _health(self) -> tuple[Any, ...]:
        return tuple(
            (s.state, s.reason, s.reconnects, s.malformed) for s in self.model.statuses.values()
        )

    def _measure(self) -> tuple[int, int]:
        """The terminal's size, asked afresh on every tick: that is resize handling."""
        env = self.given.terminal
        if env.width is not None and env.height is not None:
            return env.width, env.height
        # The terminal we draw on is the truth; COLUMNS/LINES (which rich and
        # shutil prefer) are a snapshot from startup and go stale on resize.
        try:
            columns, lines = os.get_terminal_size(env.stdout.fileno())
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            columns, lines = shutil.get_terminal_size()
        return env.width or columns or 80, env.height or lines or 24

    def _paint(self, width: int, height: int) -> None:
        painter, console = self._painter, self._console
        if painter is None or console is None:
            return
        console.size = (width, height)
        try:
            renderable = render_screen(self.model, width, height, Now.current())
            painter.paint(renderable)
        except OSError:
            raise  # the terminal itself is gone: nothing left to draw on
        except Exception as exc:
            # A monitor left open all day must survive a bad frame of its own
            # making; say what broke instead of dying with the screen garbled.
            problem = safe(repr(exc), 300)
            painter.paint(Text(f"binmon: could not draw the screen: {problem}", style="bold red"))

    # -- the terminal --------------------------------------------------------------

    def _take_terminal(self) -> None:
        self._console = self.given.terminal.console(full_screen=True)
        self._start_keyboard()
        self._painter = Painter(self._console)
        self._painter.start()
        diag = self.given.diag
        self._diag_previous = diag.sink
        self._diag_taken = True
        diag.sink = self._diag_line

    def _release_terminal(self) -> None:
        """Give the terminal back; safe to call any number of times, from anywhere."""
        if self._diag_taken:
            self._diag_taken = False
            self.given.diag.sink = self._diag_previous
        self._stop_keyboard()
        painter, self._painter = self._painter, None
        try:
            if painter is not None:
                with contextlib.suppress(OSError, ValueError):
                    painter.stop()
        finally:
            if self._cbreak is not None:
                self._cbreak.leave()
                self._cbreak = None

    def _start_keyboard(self) -> None:
        try:
            import termios  # noqa: F401  (POSIX only)

            fd = sys.stdin.fileno()
        except (ImportError, AttributeError, ValueError, OSError, io.UnsupportedOperation):
            return  # no terminal control here: no keys, but Ctrl-C still works
        if not os.isatty(fd) or self._loop is None:
            return  # stdin is a file or a pipe: never touch it
        cbreak = _Cbreak(fd)
        cbreak.enter()
        try:
            self._loop.add_reader(fd, self._on_input)
        except NotImplementedError:
            cbreak.leave()
            return
        self._stdin_fd, self._cbreak = fd, cbreak
        if _SIGTSTP is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(_SIGTSTP, self._suspend)

    def _stop_keyboard(self) -> None:
        loop, fd = self._loop, self._stdin_fd
        self._stdin_fd = None
        if loop is None or fd is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
        if _SIGTSTP is not None:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(_SIGTSTP)

    def _suspend(self) -> None:
        """Ctrl-Z: give the shell a sane terminal, stop, and take it back on fg."""
        painter, console, loop = self._painter, self._console, self._loop
        if console is None or loop is None:
            return
        with contextlib.suppress(OSError, ValueError):
            console.show_cursor(True)
            if painter is not None:
                console.set_alt_screen(False)
        if self._cbreak is not None:
            self._cbreak.leave()
        assert _SIGTSTP is not None  # only ever installed as its handler
        loop.remove_signal_handler(_SIGTSTP)
        os.kill(os.getpid(), _SIGTSTP)  # default action: stop here, until SIGCONT
        loop.add_signal_handler(_SIGTSTP, self._suspend)
        if self._cbreak is not None:
            self._cbreak.enter()
        with contextlib.suppress(OSError, ValueError):
            if painter is not None:
                console.set_alt_screen(True)
            console.show_cursor(False)
        self._dirty = True

    def _on_input(self) -> None:
        fd = self._stdin_fd
        if fd is None:
            return
        try:
            data = os.read(fd, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._stop_keyboard()  # the terminal went away: stop listening
            return
        self.keys(data)

    def keys(self, data: bytes) -> None:
        """Act on typed bytes (public for tests). Every key repaints at once."""
        for key in _split_keys(data):
            self._dirty = True
            if self._key(key):
                return
        if self._waiter is None:
            self._key_pending = True
        self._wake()

    def _key(self, key: bytes) -> bool:
        """One key; True when it quit."""
        model = self.model
        if model.help_shown:
            model.help_shown = False  # any key closes the help, and does nothing else
            return False
        if model.prompt is not None:
            self._prompt_key(key)
            return False
        if key in (b"q", b"Q"):
            self.quit_requested = True
            self.given.stop()
            return True
        # Whatever a key changes is shown, paused or not.
        model.frozen = None
        if key == b"?":
            model.help_shown = True
        elif key == b"/":
            model.prompt = model.search.text if model.search is not None else ""
        elif key == b"p":
            model.pause(time.time() * 1000.0)
        elif key == b"u":
            model.show_upcoming = not model.show_upcoming
        elif model.detail is not None:
            self._detail_key(key)
        elif key == _KEY_ESC:
            if model.search is not None:
                model.apply_search("")
        elif key in _KEYS_ENTER:
            model.open_detail()
        elif key == b"s":
            self.sort = ASSET_SORTS[(ASSET_SORTS.index(self.sort) + 1) % len(ASSET_SORTS)]
        elif key == b"c":
            self.contract_sort = CONTRACT_SORTS[
                (CONTRACT_SORTS.index(self.contract_sort) + 1) % len(CONTRACT_SORTS)
            ]
        else:
            self._move_key(key)
        return False

    def _move_key(self, key: bytes) -> None:
        model = self.model
        if key in _KEYS_UP:
            model.move_selection(-1)
        elif key in _KEYS_DOWN:
            model.move_selection(1)
        elif key in _KEYS_PAGE_UP:
            model.move_selection(-model.contract_page)
        elif key in _KEYS_PAGE_DOWN:
            model.move_selection(model.contract_page)
        elif key in _KEYS_HOME:
            model.move_selection(-len(model.contracts) - 1)
        elif key in _KEYS_END:
            model.move_selection(len(model.contracts) + 1)

    def _detail_key(self, key: bytes) -> None:
        model = self.model
        if key in (_KEY_ESC, *_KEYS_ENTER, *_KEYS_BACKSPACE, *_KEYS_LEFT):
            model.detail = None
        elif key in _KEYS_UP or key in _KEYS_DOWN:
            # The neighbouring contracts of the table, without going back to it.
            model.move_selection(-1 if key in _KEYS_UP else 1)
            model.detail = model.selected

    def _prompt_key(self, key: bytes) -> None:
        model = self.model
        typed = model.prompt or ""
        if key in _KEYS_ENTER:
            model.apply_search(typed)
        elif key == _KEY_ESC:
            model.apply_search("")  # closes the prompt, and clears the filter
        elif key in _KEYS_BACKSPACE:
            model.prompt = typed[:-1]
        elif key == _KEY_KILL_LINE:
            model.prompt = ""
        elif len(key) == 1 and 0x20 < key[0] < 0x7F and len(typed) < PROMPT_LIMIT:
            # Symbols are printable ASCII without spaces; anything else is not a symbol.
            model.prompt = typed + chr(key[0])

    def _diag_line(self, line: str) -> None:
        self.model.message(line, time.time() * 1000.0)
        self._dirty = True


def _split_keys(data: bytes) -> list[bytes]:
    """Split typed bytes into keys: escape sequences stay whole."""
    keys: list[bytes] = []
    i = 0
    while i < len(data):
        if data[i] == 0x1B and i + 1 < len(data) and data[i + 1] in b"[O":
            j = i + 2
            while j < len(data) and not (0x40 <= data[j] <= 0x7E):
                j += 1
            keys.append(data[i : j + 1])
            i = j + 1
        else:
            keys.append(data[i : i + 1])
            i += 1
    return keys
