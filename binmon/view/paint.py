"""Painting whole screens on the terminal's alternate screen.

What ``rich.live.Live(screen=True, auto_refresh=False, transient=True)`` does
for the live view, without its cost: Live lays every paint out three times
over (its ``Screen`` splits, crops and pads each line, its ``LiveRender``
splits and measures them again, and ``Console.print`` crops them once more),
which was most of ``binmon watch``'s CPU once the screen itself was cheap.
The screen's lines come out of :meth:`ScreenLines.shaped` already exactly
the terminal's width and height, so a paint here is: cursor home, the lines,
one write. Anything else (the detail view's tables) is laid out by rich the
way its ``Screen`` does. The bytes are the same as Live's (tested).
"""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.control import Control
from rich.segment import Segment, Segments

from binmon.view.screen import ScreenLines


def screen_lines(
    renderable: RenderableType, console: Console, width: int, height: int
) -> list[list[Segment]]:
    """``renderable`` laid out as exactly ``height`` lines of ``width`` cells."""
    if isinstance(renderable, ScreenLines):
        lines = renderable.shaped(console, width, height)
        if lines is not None:
            return lines
    options = console.options.update(width=width, height=height)
    return Segment.set_shape(console.render_lines(renderable, options, pad=True), width, height)


class Painter:
    """The alternate screen, repainted whole from its top-left corner."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.console.set_alt_screen(True)
            self.console.show_cursor(False)

    def paint(self, renderable: RenderableType) -> None:
        if not self._started:
            return
        console = self.console
        width, height = console.size
        body: list[Segment] = []
        newline = Segment.line()
        for n, line in enumerate(screen_lines(renderable, console, width, height)):
            if n:
                body.append(newline)
            body.extend(line)
        # Laid out already: printed as they are, neither cropped nor wrapped again.
        console.print(Control.home(), Segments(body), crop=False, end="")

    def stop(self) -> None:
        if self._started:
            self._started = False
            self.console.show_cursor(True)
            self.console.set_alt_screen(False)
