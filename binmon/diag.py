"""Diagnostics on stderr: one plain line per state change, rate-limited warnings.

Never on stdout, never rich markup, and every string that came from the
network is made printable first (no escape sequences reach the terminal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

QUIET, NORMAL, VERBOSE = -1, 0, 1

_UNPRINTABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_UNPRINTABLE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})


def printable(text: object, limit: int = 300) -> str:
    """Text safe to print: control characters shown as ``\\xNN``, long text cut."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + "…"
    return s.translate(_UNPRINTABLE)


class Diagnostics:
    def __init__(
        self,
        stream: TextIO,
        verbosity: int = NORMAL,
        clock: Callable[[], float] = time.monotonic,
        warn_interval: float = 5.0,
    ) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self._clock = clock
        self._warn_interval = warn_interval
        self._last_warned: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        # Set by a live view that owns the terminal: lines then go there.
        self.sink: Callable[[str], None] | None = None

    def _write(self, line: str) -> None:
        if self.sink is not None:
            self.sink(line)
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stderr gone: nothing sensible left to tell anyone

    def info(self, message: str) -> None:
        if self.verbosity >= NORMAL:
            self._write(f"binmon: {message}")

    def debug(self, message: str) -> None:
        if self.verbosity >= VERBOSE:
            self._write(f"binmon: {message}")

    def error(self, message: str) -> None:
        self._write(f"Error: {message}")

    def warn(self, message: str, key: str | None = None) -> None:
        """Warn, at most once per ``warn_interval`` for the same ``key``."""
        if self.verbosity < NORMAL:
            return
        key = key or message
        now = self._clock()
        last = self._last_warned.get(key)
        if last is not None and now - last < self._warn_interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last_warned[key] = now
        more = self._suppressed.pop(key, 0)
        suffix = f" (and {more} more like it)" if more else ""
        self._write(f"binmon: warning: {message}{suffix}")
