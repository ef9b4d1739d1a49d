"""The contract table (with the user's positions when known) and one
contract's detail: its bracket ladder and its changes this run."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from binmon.brackets_view import Ladder, brackets_table
from binmon.leverage import BracketError
from binmon.protocol import PERPETUAL_FROM_MS, Bracket
from binmon.state import Contract
from binmon.view.format import (
    clock_time,
    date_time,
    delivery_text,
    duration,
    safe,
    to_float,
    utc_date,
)
from binmon.view.grid import Column, append_search, cell, grid, one_line, titled
from binmon.view.model import ALERT_STYLE, RECENT_CHANGE_MS, Now, ScreenModel, ordered_contracts
from binmon.view.words import describe, last_change_text, leverage_text, margin_text, status_text

# --- contract table ----------------------------------------------------------

CONTRACT_COLUMNS: Final = (
    Column("symbol", "symbol", priority=0, max_width=20),
    Column("pair", "pair", priority=7, max_width=20),
    Column("market", "mkt", priority=5, max_width=3),
    Column("type", "type", priority=3, max_width=20),
    Column("status", "status", priority=0, max_width=16),
    Column("onboard", "onboard", priority=6, max_width=10),
    Column("delivery", "delivery", priority=2, max_width=10),
    Column("brackets", "bks", "right", priority=4, max_width=3),
    Column("leverage", "lev", "right", priority=4, max_width=5),
    Column("change", "last change", priority=1, max_width=44, min_width=24),
    Column("when", "when", priority=1, max_width=16),
)


def top_leverage(brackets: dict[int, Bracket] | None) -> str:
    """The highest max leverage of any bracket, in the exchange's own digits."""
    if not brackets:
        return ""
    ranked = [(v, b.max_leverage) for b in brackets.values() if (v := to_float(b.max_leverage))]
    if not ranked:
        return ""
    return f"{safe(max(ranked)[1], 8)}x"


# Marks a ladder cell that shows the user's own brackets (notionalCoef ≠ 1):
# the stream's default ladder for that symbol has not been seen yet.
PERSONAL_MARK: Final = "*"
PERSONAL_STYLE: Final = "cyan"


def personal_ladder(model: ScreenModel, contract: Contract) -> tuple[Bracket, ...] | None:
    """The user's own ladder of a symbol, where the stream's is not known yet."""
    if contract.brackets or model.positions is None:
        return None
    return model.positions.personal.get(contract.symbol) or None


def contract_cells(
    contract: Contract,
    now: Now,
    alerted: bool = False,
    personal: Sequence[Bracket] | None = None,
) -> list[Text]:
    """A contract's cells; ``personal``, the user's own ladder, stands in for
    a stream ladder not seen yet, marked as such."""
    if personal:
        count = Text(f"{len(personal)}{PERSONAL_MARK}", style=PERSONAL_STYLE)
        leverage = top_leverage({b.bracket: b for b in personal})
        top = Text(f"{leverage}{PERSONAL_MARK}" if leverage else "", style=PERSONAL_STYLE)
    else:
        count = Text(str(len(contract.brackets)) if contract.brackets else "")
        top = Text(top_leverage(contract.brackets))
    recent = (
        contract.last_change_time is not None
        and now.wall_ms - contract.last_change_time < RECENT_CHANGE_MS
    )
    symbol_style = ALERT_STYLE if alerted else "bold yellow" if recent else "bold"
    return [
        cell(contract.symbol, symbol_style, 40),
        cell(contract.pair, limit=40),
        cell(contract.market, limit=10),
        cell(contract.contract_type, limit=40),
        status_text(contract.status),
        Text(utc_date(contract.onboard_time) if contract.onboard_time is not None else ""),
        Text(delivery_text(contract.delivery_time)),
        count,
        top,
        last_change_text(contract),
        Text(
            clock_time(contract.last_change_time, now.wall_ms)
            if contract.last_change_time is not None
            else "",
            style="yellow" if recent else "",
        ),
    ]


_CONTRACT_KEYS: Final = tuple(c.key for c in CONTRACT_COLUMNS)

# Shown only when the user has positions: their place on each symbol's ladder.
POSITION_COLUMNS: Final = (
    Column("pos_bracket", "pos bkt", "right", priority=1, max_width=7),
    Column("pos_leverage", "pos lev", "right", priority=1, max_width=8),
    Column("pos_margin", "maint. margin", "right", priority=1, max_width=24),
)
_POSITION_AFTER: Final = _CONTRACT_KEYS.index("leverage") + 1
CONTRACT_COLUMNS_WITH_POSITIONS: Final = (
    *CONTRACT_COLUMNS[:_POSITION_AFTER],
    *POSITION_COLUMNS,
    *CONTRACT_COLUMNS[_POSITION_AFTER:],
)


def position_cells(model: ScreenModel, contract: Contract, now: Now) -> dict[str, Text]:
    """The position's bracket, max leverage and maintenance margin; empty without one.

    A bracket event that moved the position shows ``old→new`` highlighted for a minute.
    """
    positions = model.positions
    exposure = None if positions is None else positions.of(contract.symbol)
    if exposure is None:
        return {c.key: Text("") for c in POSITION_COLUMNS}
    moved = model.position_moves.get(contract.symbol)
    recent = moved is not None and now.wall_ms - moved[1] < RECENT_CHANGE_MS
    style = "bold reverse yellow" if recent else "bold"
    before = moved[0] if moved is not None and recent else None
    values = {
        "pos_bracket": (
            str(exposure.bracket or "-"),
            None if before is None else str(before.bracket or "-"),
        ),
        "pos_leverage": (
            leverage_text(exposure.max_leverage),
            None if before is None else leverage_text(before.max_leverage),
        ),
        "pos_margin": (margin_text(exposure), None if before is None else margin_text(before)),
    }
    cells = {}
    for key, (new, old) in values.items():
        if old is not None and old != new:
            text = Text(f"{old}→", style="dim")
            text.append(new, style=style)
        else:
            text = Text(new, style="bold" if exposure.bracket is not None else "yellow")
        cells[key] = text
    return cells


def _contract_row(
    model: ScreenModel, contract: Contract, now: Now, personal: tuple[Bracket, ...] | None
) -> dict[str, Text]:
    recent = (
        contract.last_change_time is not None
        and now.wall_ms - contract.last_change_time < RECENT_CHANGE_MS
    )
    alerted = model.alerted(contract.symbol, now.wall_ms)
    # What a row's text depends on: a cached row is reused until one of these moves.
    key = (
        id(contract),
        id(contract.brackets),
        personal,  # by value (cheap: the same tuple while unchanged)
        contract.last_event_time,
        contract.last_change_time,
        contract.status,
        recent,
        alerted,
        int(now.wall_ms // 86_400_000),
    )
    cached = model._row_cache.get(contract.symbol)
    if cached is None or cached[0] != key:
        cached = (key, contract_cells(contract, now, alerted, personal))
        model._row_cache[contract.symbol] = cached
    return dict(zip(_CONTRACT_KEYS, cached[1], strict=True))


def contract_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    if height <= 0:
        return []
    ordered = ordered_contracts(model)
    capacity = max(0, height - 2)
    selected = model._index.get(model.selected) if model.selected is not None else None
    offset = model.contract_offset
    if selected is not None and capacity:
        # The table follows the selection.
        offset = min(max(offset, selected - capacity + 1), selected)
    offset = max(0, min(offset, len(ordered) - capacity))
    model.contract_offset = offset
    model.contract_page = max(1, capacity)
    shown = ordered[offset : offset + capacity]
    title = Text("Contracts", style="bold")
    total = len(model.contracts)
    if len(ordered) != total:
        title.append(f"  {len(ordered)} of {total} match the filters")
    else:
        title.append(f"  {total}")
    append_search(title, model)
    if shown and len(shown) < len(ordered):
        title.append(f"  rows {offset + 1}–{offset + len(shown)}", style="dim")
    order = "recent changes first" if model.contract_sort == "recent" else "by symbol"
    title.append(f"  {order}, times UTC", style="dim")
    if not model.contracts:
        title.append("  waiting for exchangeInfo…", style="yellow")
    personals = [personal_ladder(model, c) for c in shown]
    rows = [_contract_row(model, c, now, p) for c, p in zip(shown, personals, strict=True)]
    if any(personals):
        title.append(f"  {PERSONAL_MARK} your own brackets", style=PERSONAL_STYLE)
    columns: tuple[Column, ...] = CONTRACT_COLUMNS
    if model.positions:
        columns = CONTRACT_COLUMNS_WITH_POSITIONS
        for row, contract in zip(rows, shown, strict=True):
            row.update(position_cells(model, contract, now))
    table = grid(columns, rows, width) if height >= 2 else None
    if table is not None and selected is not None and offset <= selected < offset + len(shown):
        line = table[1 + selected - offset]
        line.pad_right(width - line.cell_len)  # the highlight spans the row
        line.stylize("reverse")
    return titled(title, table, width)


# --- contract detail -----------------------------------------------------------

# Draws the brackets table and ladder of `binmon brackets` into lines of Text.
_DETAIL_CONSOLE: Console | None = None


def _render_lines(renderable: RenderableType, width: int) -> list[Text]:
    global _DETAIL_CONSOLE
    console = _DETAIL_CONSOLE
    if console is None:
        console = _DETAIL_CONSOLE = Console(
            file=io.StringIO(),
            force_terminal=True,
            color_system="truecolor",
            legacy_windows=False,
            markup=False,
            emoji=False,
            highlight=False,
        )
    options = console.options.update(width=max(1, width), no_wrap=False)
    out = []
    for segments in console.render_lines(renderable, options, pad=False):
        line = Text(no_wrap=True, overflow="ellipsis")
        for segment in segments:
            if not segment.control:
                line.append(segment.text, segment.style)
        line.rstrip()
        out.append(line)
    return out


def _when_text(label: str, ms: int | None, now_ms: float) -> Text:
    text = Text(f"{label} ", style="dim")
    if ms is None:
        text.append("unknown")
        return text
    text.append(date_time(ms))
    if ms < PERPETUAL_FROM_MS and ms > now_ms:
        text.append(f" (in {duration((ms - now_ms) / 1000)})", style="bold yellow")
    return text


def detail_section(model: ScreenModel, width: int, height: int, now: Now) -> list[RenderableType]:
    """One contract: what is known of it, its bracket ladder, its changes this run."""
    if height <= 0 or model.detail is None:
        return []
    symbol = model.detail
    contract = model.contracts.get(symbol)
    title = Text(safe(symbol, 40), style="bold")
    if contract is not None:
        for value in (contract.contract_type, contract.market):
            if value:
                title.append(f"  {safe(value, 40)}")
        title.append("  ")
        title.append_text(status_text(contract.status))
        if contract.pair and contract.pair != symbol:
            title.append(f"  pair {safe(contract.pair, 40)}")
    title.append("  Esc back  ↑↓ other contracts", style="dim")
    out: list[Text] = [one_line(title, width)]
    if contract is None:
        out.append(one_line(Text("no longer known to the exchange", style="yellow"), width))
        return list(out[:height])
    times = _when_text("listing", contract.onboard_time, now.wall_ms)
    times.append("   ")
    times.append_text(_when_text("delivery", contract.delivery_time, now.wall_ms))
    out.append(one_line(times, width))

    history = list(model.history.get(symbol, ()))
    changes = [Text("Changes seen this run", style="bold")]
    changes[0].append("  (UTC, newest first)", style="dim")
    if not history:
        changes.append(Text("none yet", style="dim"))
    for time_ms, change in history[: max(0, height)]:
        line = Text(clock_time(time_ms, now.wall_ms), style="dim")
        line.append("  ")
        line.append_text(describe(change))
        changes.append(line)
    brackets = list(contract.brackets.values()) if contract.brackets else []
    personal = None if model.positions is None else model.positions.personal.get(symbol)
    if personal:
        # The account's key has brackets of its own for this symbol (notionalCoef):
        # they are what its positions use; the stream carries the default ones.
        note = Text(
            "Your own brackets (notionalCoef ≠ 1): your position uses them", style=PERSONAL_STYLE
        )
        if brackets:
            note.append("; below, the stream's default ladder", style="dim")
        else:
            note.append("; the stream's default ladder has not been seen yet", style="dim")
            brackets = list(personal)
        out.append(one_line(note, width))
    # The ladder gets the room; the changes keep a few lines at the bottom.
    room = height - len(out) - 1
    keep = min(len(changes), max(2, room // 3))
    ladder_room = room - keep

    picture: list[Text] = []
    if brackets:
        try:
            picture = _render_lines(_bracket_picture(symbol, brackets, width), width)
        except BracketError as exc:
            # The protocol lets only numbers through; say so rather than die if one slips.
            picture = [Text(f"The ladder cannot be drawn: {safe(exc, 200)}", style="yellow")]
    else:
        picture = [
            Text(
                "No brackets seen yet: the stream sends a ladder when it changes "
                f"(binmon brackets {safe(symbol, 40)} asks the exchange).",
                style="dim",
            )
        ]
    out += [one_line(t, width) for t in picture[: max(0, ladder_room)]]
    out.append(Text(""))
    out += [one_line(t, width) for t in changes[: max(0, height - len(out))]]
    return list(out[:height])


def _bracket_picture(symbol: str, brackets: list[Bracket], width: int) -> RenderableType:
    """The table and the ladder of ``binmon brackets``, side by side when they fit."""
    table = brackets_table(symbol, brackets)
    ladder = Ladder(brackets)
    if width >= 140:
        pair = RichTable.grid(padding=(0, 4))
        pair.add_column(no_wrap=True)
        pair.add_column()
        pair.add_row(table, ladder)
        return pair
    return Group(table, ladder)
