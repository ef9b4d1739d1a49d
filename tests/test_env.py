"""The environment's consoles: the one place binmon makes a rich console."""

from __future__ import annotations

import gc
import io

from rich.text import Text

from binmon.env import Environment


def _env(**kw: object) -> Environment:
    return Environment(stdout=io.BytesIO(), stderr=io.StringIO(), width=40, **kw)  # type: ignore[arg-type]


def test_a_console_writes_to_stdout_and_never_closes_it() -> None:
    env = _env()
    console = env.console()
    console.print(Text("[bold]x[/] ✓"))
    assert console.width == 40 and not console.is_terminal
    del console
    gc.collect()
    # A TextIOWrapper collected here would have closed the buffer under us.
    env.stdout.write(b"still open\n")
    assert isinstance(env.stdout, io.BytesIO)
    assert env.stdout.getvalue() == "[bold]x[/] ✓\nstill open\n".encode()


def test_colour_follows_the_terminal_and_no_color() -> None:
    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    for no_color, coloured in ((False, True), (True, False)):
        env = Environment(stdout=Tty(), stderr=io.StringIO(), width=40, no_color=no_color)
        console = env.console()
        console.print(Text("x", style="red"))
        assert isinstance(env.stdout, io.BytesIO)
        assert (b"\x1b[31m" in env.stdout.getvalue()) is coloured


def test_the_full_screen_console_is_a_terminal_that_takes_no_markup() -> None:
    env = _env()
    console = env.console(full_screen=True)
    assert console.is_terminal
    console.print("[bold]literal[/]")
    assert isinstance(env.stdout, io.BytesIO)
    assert b"[bold]literal[/]" in env.stdout.getvalue()
