"""The painter (binmon/view/paint.py): the same bytes as rich's Live(screen=True), cheaper."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from binmon.view import LiveView, render_screen
from binmon.view.paint import Painter, screen_lines
from binmon.view.screen import ScreenLines
from tests.view_fixtures import NOW, build_model, colour_terminal, keyed_view, with_holdings

SIZES = [(200, 50), (160, 45), (80, 24), (40, 12), (20, 3)]


def _terminal(width: int, height: int) -> Console:
    return colour_terminal(width, height, "256")


def _paints(
    renderables: list[RenderableType], width: int, height: int, *, painter: bool
) -> tuple[list[str], str]:
    """What each paint wrote, and everything written from start to stop."""
    console = _terminal(width, height)
    file = console.file
    assert isinstance(file, io.StringIO)
    if painter:
        own = Painter(console)
        start, paint, stop = own.start, own.paint, own.stop
    else:
        # How the live view drew before it had a painter of its own.
        live = Live(
            Text(""),
            console=console,
            auto_refresh=False,
            screen=True,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        start, stop = live.start, live.stop

        def paint(renderable: RenderableType) -> None:
            live.update(renderable, refresh=True)

    start()
    written = []
    for renderable in renderables:
        before = file.tell()
        paint(renderable)
        written.append(file.getvalue()[before:])
    stop()
    return written, file.getvalue()


def _agree(renderables: list[RenderableType], width: int, height: int) -> None:
    ours, whole = _paints(renderables, width, height, painter=True)
    rich, rich_whole = _paints(renderables, width, height, painter=False)
    assert ours == rich
    assert whole == rich_whole


def _views() -> dict[str, LiveView]:
    _, tables = keyed_view()
    _, detail = keyed_view()
    detail.keys(b"cjj\n")  # BTCUSDT's ladder: rich tables, laid out by rich
    _, helped = keyed_view()
    helped.keys(b"?")
    _, filtered = keyed_view()
    filtered.keys(b"/btc\n")
    return {"tables": tables, "detail": detail, "help": helped, "filtered": filtered}


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_paints_are_byte_for_byte_lives(width: int, height: int) -> None:
    model = with_holdings(build_model())
    screens: list[RenderableType] = [Text("")]
    screens += [render_screen(model, width, height, NOW) for _ in range(2)]
    screens += [render_screen(v.model, width, height, NOW) for v in _views().values()]
    # What the view paints when a screen of its own making fails.
    screens.append(Text("binmon: could not draw the screen: ValueError('x')", style="bold red"))
    _agree(screens, width, height)


def test_every_view_is_shaped_without_rich_to_the_terminals_size() -> None:
    console = _terminal(160, 45)
    for name, view in _views().items():
        screen = render_screen(view.model, 160, 45, NOW)
        assert isinstance(screen, ScreenLines)
        lines = screen.shaped(console, 160, 45)
        assert lines is not None, name
        assert len(lines) == 45
        assert all(sum(s.cell_length for s in line) == 160 for line in lines), name
        assert lines == screen_lines(screen, console, 160, 45)


@pytest.mark.parametrize(
    "odd",
    [
        Text("a\ttab"),
        Text("two\nlines"),
        Text("right", justify="right"),
        Text("x" * 30),  # wider than the screen
        Text("no end", end=""),
    ],
)
def test_lines_rich_must_lay_out_are_left_to_it(odd: Text) -> None:
    screen = ScreenLines(Text("first", style="bold"), odd, Text("last"))
    console = _terminal(20, 6)
    assert screen.shaped(console, 20, 6) is None
    _agree([screen], 20, 6)


def test_a_screen_of_fewer_or_more_lines_than_the_terminal_is_shaped_to_it() -> None:
    few = ScreenLines(Text("one"), Text("two", style="red"))
    many = ScreenLines(*(Text(f"line {n}") for n in range(30)))
    console = _terminal(20, 6)
    for screen in (few, many):
        lines = screen.shaped(console, 20, 6)
        assert lines is not None and len(lines) == 6
        assert all(sum(s.cell_length for s in line) == 20 for line in lines)
    table = Table("a", "b")
    table.add_row("1", "2")
    with_table = ScreenLines(Text("title"), table)
    assert with_table.shaped(console, 20, 6) is None  # rich lays it out
    assert len(screen_lines(with_table, console, 20, 6)) == 6
    _agree([few, many, with_table, few], 20, 6)


def test_nothing_is_written_before_start_or_after_stop() -> None:
    console = _terminal(20, 4)
    painter = Painter(console)
    painter.paint(Text("early"))
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    painter.start()
    painter.paint(Text("now"))
    painter.stop()
    written = console.file.getvalue()  # type: ignore[attr-defined]
    painter.paint(Text("late"))
    painter.stop()
    assert console.file.getvalue() == written  # type: ignore[attr-defined]
    assert "now" in written and "early" not in written
