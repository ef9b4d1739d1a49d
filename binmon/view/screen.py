"""The whole screen: status lines, header, footer, how the body is shared out
among the sections, and ``render_screen``.

No I/O and no clocks: every render function takes ``now`` (wall-clock epoch
ms for exchange times, monotonic seconds for connection health), so a golden
test can pin the screen to the character.

Network strings reach the screen only through :func:`binmon.view.format.safe`
(control characters made visible) inside plain ``rich.text.Text`` objects:
never markup, never raw escape sequences.

Timing a frame (what the live view does on each paint)::

    import io, time
    from rich.console import Console
    from binmon.view import Now, ScreenModel, render_screen
    from binmon.view.paint import Painter

    model = ScreenModel(kinds=("contract info",), contracts=book.contracts)  # e.g. 700
    console = Console(width=200, height=50, file=io.StringIO(), force_terminal=True)
    painter = Painter(console)
    painter.start()
    t0 = time.perf_counter()
    painter.paint(render_screen(model, 200, 50, Now.current()))
    elapsed_ms = (time.perf_counter() - t0) * 1000

The cost is bounded by the visible rows, not by the number of contracts:
contracts are filtered and sorted once per change (cached on
``contracts_version``), sliced to the rows that fit, and only those rows are
formatted (cached per contract until it changes).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, TypeGuard
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

from binmon.status import StreamStatus
from binmon.view.assets import asset_section, collateral_need, collateral_section
from binmon.view.contracts import contract_section, detail_section
from binmon.view.format import clock_time, duration, lag_text, rate, safe, timestamp
from binmon.view.grid import one_line
from binmon.view.log import help_section, log_section
from binmon.view.model import (
    ASSETS,
    CONTRACTS,
    LOG_LINES,
    PROMPT_LIMIT,
    SILENT_AFTER_S,
    Now,
    ScreenModel,
    ordered_contracts,
)
from binmon.view.upcoming import upcoming_height, upcoming_section

# --- status lines, header, footer ---------------------------------------------


def status_line(
    status: StreamStatus,
    now: Now,
    width: int,
    *,
    periodic: bool,
    lag_ms: float | None = None,
    replay: str | None = None,
) -> Text:
    """One stream's health. Trouble is spelled out in words, not colour alone."""
    line = Text(f"{status.name:<13} ", style="bold")
    silent = status.silent_for(now.mono)
    state = status.state
    if replay is not None:
        line.append(" ▶ REPLAY ", style="bold cyan")
        line.append(f" {safe(replay, 80)}", style="cyan")
    elif state == "connected" and periodic and silent is not None and silent >= SILENT_AFTER_S:
        line.append(f" ◌ SILENT {duration(silent)} ", style="bold reverse yellow")
    elif state == "connected":
        line.append(" ● CONNECTED ", style="bold green")
    elif state == "reconnecting":
        badge = " ↻ RECONNECTING"
        if status.next_retry_at is not None and status.next_retry_at > now.mono:
            badge += f" in {duration(status.next_retry_at - now.mono)}"
        line.append(f"{badge} ", style="bold reverse yellow")
    elif state == "stale":
        line.append(" ✖ STALE ", style="bold reverse red")
    elif state == "stopped":
        line.append(" ■ STOPPED ", style="bold reverse red")
    else:
        line.append(" … CONNECTING ", style="bold yellow")
    if status.reason and state in ("reconnecting", "stale"):
        line.append(f" {safe(status.reason, 120)}", style="yellow")
    parts: list[tuple[str, str]] = []
    parts.append((rate(status.rate), ""))
    if replay is not None:
        # Lag against the wall clock means nothing for a recording; where it is does.
        if status.last_event_time_ms is not None:
            parts.append((f"at {clock_time(status.last_event_time_ms, now.wall_ms)}", ""))
    else:
        lag = lag_ms if lag_ms is not None else status.lag_ms(now.wall_ms)
        if lag is not None:
            parts.append((f"lag {lag_text(lag)}", "yellow" if lag >= 2000 else ""))
    if status.last_message_at is not None:
        age = now.mono - status.last_message_at
        parts.append((f"last msg {duration(age)} ago", ""))
    elif replay is None:
        parts.append(("no message yet", "dim"))
    parts.append((f"reconnects {status.reconnects}", "yellow" if status.reconnects else ""))
    parts.append((f"malformed {status.malformed}", "red" if status.malformed else ""))
    if status.rotation_at is not None and replay is None:
        parts.append((f"rotation in {duration(status.rotation_at - now.mono)}", "dim"))
    if status.url:
        parts.append((safe(status.url, 200), "dim"))
    for text, style in parts:
        line.append("  ")
        line.append(text, style=style)
    return one_line(line, width)


def header_line(model: ScreenModel, width: int, now: Now) -> Text:
    line = Text(f"binmon {model.command}", style="bold")
    if model.demo:
        line.append("  ")
        line.append(" DEMO DATA (local simulated exchange) ", style="bold reverse yellow")
    if model.replay is None:
        line.append(f"  {clock_time(now.wall_ms, now.wall_ms)} UTC", style="dim")
    else:
        line.append(f"  {timestamp(now.wall_ms)} UTC (recording)", style="dim")
    if model.paused_at_ms is not None:
        line.append("  ")
        line.append(" ⏸ PAUSED ", style="bold reverse yellow")
        since = clock_time(model.paused_at_ms, now.wall_ms)
        line.append(f" since {since}, {model.paused_events} events received  p resumes")
    # Most useful first: as many as fit, and always the way to the rest.
    keys = ["q quit", "? help", "/ filter"]
    if ASSETS in model.kinds:
        keys.append(f"s sort assets ({model.asset_sort})")
    if CONTRACTS in model.kinds:
        keys.append(f"c sort contracts ({model.contract_sort})")
        keys += ["↑↓ select", "Enter detail", "u upcoming"]
    keys.append("p pause")
    room = width - line.cell_len - 2
    hint = ""
    for key in keys:
        longer = f"{hint}  {key}" if hint else key
        if cell_len(longer) > room:
            break
        hint = longer
    if hint:
        line.append(" " * (room - cell_len(hint) + 2))
        line.append(hint, style="dim")
    return one_line(line, width)


def footer_line(model: ScreenModel, width: int, now: Now) -> Text | None:
    if model.prompt is not None:
        line = Text("/", style="bold")
        line.append(safe(model.prompt, PROMPT_LIMIT))
        line.append("▏", style="blink")
        line.append("  filter symbols: a glob (btc*) or any part (btc)", style="dim")
        line.append("  Enter applies  Esc clears", style="dim")
        return one_line(line, width)
    if not model.messages:
        return None
    at, message = model.messages[-1]
    style = "yellow" if "warning" in message or "Error" in message else "dim"
    line = Text(clock_time(at, now.wall_ms), style="dim")
    line.append("  ")
    line.append(message, style=style)
    return one_line(line, width)


# --- the whole screen ----------------------------------------------------------


def body_sections(model: ScreenModel, width: int, body: int, now: Now) -> list[RenderableType]:
    """Everything between the status lines and the footer, one line each."""
    if model.detail is not None:
        return detail_section(model, width, body, now)
    upcoming_h = upcoming_height(model, body, now)
    rest = body - upcoming_h
    # Collateral sits under the asset index and takes at most a third of the screen.
    collateral_h = min(collateral_need(model), rest // 3)
    asset_h, contract_h, log_h = layout(model, rest - collateral_h)
    sections: list[RenderableType] = []
    if ASSETS in model.kinds:
        sections += asset_section(model, width, asset_h, now)
        sections += collateral_section(model, width, collateral_h, now)
    if CONTRACTS in model.kinds:
        sections += upcoming_section(model, width, upcoming_h, now)
        sections += contract_section(model, width, contract_h, now)
    # Assets alone have a log too once there is an alert (see layout).
    sections += log_section(model, width, log_h, now)
    return sections


def layout(model: ScreenModel, height: int) -> tuple[int, int, int]:
    """Lines for the asset section, the contract section and the change log.

    The asset list is short and wholly interesting, the contract list long
    and sorted by interest: assets get what they need (up to half), the log a
    few lines, contracts the rest; lines contracts cannot use go back to the
    log and then the assets.
    """
    has_assets = ASSETS in model.kinds
    rest = max(0, height)
    if CONTRACTS not in model.kinds:
        # Assets alone have a log only for alerts, and only once there is one.
        log = 1 + min(len(model.log), LOG_LINES) if model.alerts_logged and rest >= 9 else 0
        return rest - log, 0, log
    log_need = 1 + max(1, len(model.log))
    log = 0
    if rest >= 14:
        log = 1 + max(1, min(len(model.log), LOG_LINES, (rest - 10) // 4))
    elif rest >= 9:
        log = 2
    assets = asset_need = 0
    if has_assets:
        visible = model.symbol_visible
        asset_need = 2 + max(1, sum(1 for r in model.assets.values() if visible(r.event.symbol)))
        assets = min(asset_need, max(3, (rest - log) // 2), rest)
    contracts = max(0, rest - log - assets)
    if contracts < 3 and log:
        # Too short for three sections: keep the tables, drop the log.
        contracts, log = contracts + log, 0
    spare = contracts - (2 + max(1, len(ordered_contracts(model))))
    if spare > 0:
        contracts -= spare
        if log:
            grow = min(spare, log_need - log)
            log, spare = log + grow, spare - grow
        grow = min(spare, asset_need - assets)
        assets, spare = assets + grow, spare - grow
        contracts += spare
    return assets, contracts, log


class ScreenLines(Group):
    """The screen's lines, rendered as a ``Group`` of them would be, faster.

    Nearly every line is a ``Text`` already cut to the width, with no newline
    or tab: rich's own rendering of a ``Text`` wraps, splits and joins it again
    before it makes its segments, about half the cost of a paint. Such a line
    is made into segments directly; anything else (the detail view's tables)
    is left to rich.
    """

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width, justify = options.max_width, options.justify
        for line in self.renderables:
            if _one_line(line, width, justify):
                yield from _segments(line, console)
            else:
                yield line

    def shaped(self, console: Console, width: int, height: int) -> list[list[Segment]] | None:
        """The screen as rich's ``Screen`` would lay it out: exactly ``height``
        lines of exactly ``width`` cells (no newlines), or None when a line is
        not a plain one-line ``Text`` (rich then lays it out itself)."""
        lines: list[list[Segment]] = []
        for line in self.renderables[:height]:
            if not _one_line(line, width, None):
                return None
            lines.append(_padded(line, console, width))
        if len(lines) < height:
            blank = [Segment(" " * width)]
            lines.extend(blank for _ in range(height - len(lines)))
        return lines


def _one_line(line: RenderableType, width: int, justify: str | None) -> TypeGuard[Text]:
    """A ``Text`` that rich would render as it is, on one line of ``width``."""
    return (
        type(line) is Text
        and (line.justify or justify) in (None, "default")
        and line.end == "\n"
        and "\n" not in line.plain
        and "\t" not in line.plain
        and line.cell_len <= width
    )


_NEWLINE = Segment("\n")
# Per console (styles are its theme's): the segments of lines seen lately.
# Between two paints most lines are the same text with the same styles (the
# contracts, the titles, the headers): their segments are made once.
_MADE: WeakKeyDictionary[Console, dict[Hashable, list[Segment]]] = WeakKeyDictionary()
_MADE_LIMIT: Final = 2048


def _made(console: Console) -> dict[Hashable, list[Segment]]:
    made = _MADE.get(console)
    if made is None:
        made = _MADE[console] = {}
    elif len(made) >= _MADE_LIMIT:
        made.clear()
    return made


def _segments(line: Text, console: Console) -> list[Segment]:
    made = _made(console)
    key = (line.plain, tuple(line.spans), line.style)
    segments = made.get(key)
    if segments is None:
        if line.spans:
            segments = list(line.render(console, end="\n"))
        else:
            # Without spans, Text.render would drop the line's own style (rich
            # applies it on the way through its wrapping, as a span).
            style = console.get_style(line.style) if line.style else None
            segments = [Segment(line.plain, style), _NEWLINE]
        made[key] = segments
    return segments


def _padded(line: Text, console: Console, width: int) -> list[Segment]:
    """A line's segments without its newline, padded with spaces to ``width``."""
    made = _made(console)
    key = (line.plain, tuple(line.spans), line.style, width)
    segments = made.get(key)
    if segments is None:
        segments = _segments(line, console)[:-1]
        length = line.cell_len
        if length < width:
            segments.append(Segment(" " * (width - length)))
        made[key] = segments
    return segments


def render_screen(
    model: ScreenModel, width: int, height: int, now: Now | None = None
) -> RenderableType:
    """The whole screen for a ``width`` × ``height`` terminal: exactly ``height``
    lines of at most ``width`` cells, the last one the latest diagnostic."""
    now = now or Now.current()
    if model.replay is not None:
        # A recording keeps its own time: ages, "today" and highlights are
        # measured against its latest event, not against the wall clock.
        latest = max(
            (s.last_event_time_ms for s in model.statuses.values() if s.last_event_time_ms),
            default=None,
        )
        if latest is not None:
            now = Now(float(latest), now.mono)
    model.expire_flashes(now.wall_ms)
    top: list[RenderableType] = [header_line(model, width, now)]
    for kind in model.kinds:
        status = model.statuses.get(kind)
        if status is not None:
            top.append(
                status_line(
                    status,
                    now,
                    width,
                    periodic=kind == ASSETS,
                    lag_ms=model.lag_ms.get(kind),
                    replay=model.replay,
                )
            )
    footer = footer_line(model, width, now)
    bottom: list[RenderableType] = [] if footer is None else [footer]
    body = height - len(top) - len(bottom)
    if body < 0:
        return ScreenLines(*(top + bottom)[: max(height, 0)])
    if model.help_shown:
        sections = help_section(width, body)
    elif model.frozen is not None and model.frozen[0] == (width, height):
        sections = model.frozen[1]  # paused: the tables as they were
    else:
        sections = body_sections(model, width, body, now)
        if model.paused_at_ms is not None:
            model.frozen = ((width, height), sections)
    # Every renderable here is one line: pad so the footer sits on the last row.
    filler = [Text("") for _ in range(body - len(sections))]
    return ScreenLines(*top, *sections, *filler, *bottom)
