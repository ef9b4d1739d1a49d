"""The process environment binmon runs in, injectable for tests (as httpie does).

It is also the one place rich consoles are made: what binmon writes to the
terminal goes through :meth:`Environment.console`, onto the environment's
binary stdout.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TextIO, cast

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Environment:
    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdout_isatty: bool = field(default_factory=lambda: sys.stdout.isatty())
    stderr_isatty: bool = field(default_factory=lambda: sys.stderr.isatty())
    no_color: bool = field(default_factory=lambda: "NO_COLOR" in os.environ)
    # Tests pin the terminal size; None means "ask the terminal".
    width: int | None = None
    height: int | None = None
    # Wall-clock seconds; tests pin it to judge "in the future" against fixed data.
    clock: Callable[[], float] = time.time

    def console(self, *, full_screen: bool = False) -> Console:
        """A rich console on stdout (rich is imported only when one is asked for).

        Plain (``brackets`` tables): colour only on a terminal and without
        NO_COLOR, the size pinned by the environment if it is. ``full_screen``
        (the live view): always drawn as a terminal, never markup, never
        wrapped; its size is measured on every paint by the view itself.
        """
        from rich.console import Console

        text = _TextOut(self.stdout, self._stdout_encoding(), terminal=full_screen)
        file = cast(TextIO, text)
        no_color = self.no_color or None
        if full_screen:
            return Console(
                file=file,
                force_terminal=True,
                no_color=no_color,
                color_system="auto",
                legacy_windows=False,
                markup=False,
                emoji=False,
                highlight=False,
                soft_wrap=False,
            )
        return Console(
            file=file,
            width=self.width,
            height=self.height,
            no_color=no_color,
            highlight=False,
            emoji=False,
        )

    def _stdout_encoding(self) -> str:
        # The terminal's own encoding when we write to the real stdout (an
        # ASCII-only terminal gets ASCII pictures); UTF-8 into anything else.
        if self.stdout is getattr(sys.stdout, "buffer", None):
            return getattr(sys.stdout, "encoding", None) or "utf-8"
        return "utf-8"


class _TextOut(io.TextIOBase):
    """Text in, bytes out to a binary stream, for rich's Console.

    Unlike ``io.TextIOWrapper`` it never closes (or needs detaching from) the
    stream it writes to, and it buffers nothing of its own.
    """

    def __init__(self, out: BinaryIO, encoding: str, *, terminal: bool) -> None:
        self._out = out
        self._encoding = encoding
        self._terminal = terminal

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def write(self, text: str) -> int:
        self._out.write(text.encode(self._encoding, "replace"))
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def isatty(self) -> bool:
        # Full screen is drawn as on a terminal whatever stdout is (tests
        # read it through a pseudo-terminal or a buffer); anything else is
        # what stdout really is.
        return self._terminal or self._out.isatty()

    def fileno(self) -> int:
        return self._out.fileno()
