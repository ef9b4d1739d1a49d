"""The upcoming table: time left as a countdown, columns that give way, inert text."""

from __future__ import annotations

import io

from rich.console import Console

from binmon.upcoming import Upcoming
from binmon.upcoming_view import UpcomingView, time_left, upcoming_table

NOW = 1_800_000_000_000
EVENTS = [
    Upcoming("listing", "NEWUSDT", NOW + 90_000, "PENDING_TRADING", "PERPETUAL", "NEWUSDT", "UM"),
    Upcoming("delivery", "GONEUSDT", NOW + 7_200_000, "SETTLING", "PERPETUAL", "GONEUSDT", "UM"),
    Upcoming(
        "delivery", "BTCUSD_270326", NOW + 86_400_000 * 3, "TRADING", "NEXT_QUARTER", "BTCUSD", "CM"
    ),
]


def render(renderable: object, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return [line.rstrip() for line in capture.get().splitlines()]


def header(lines: list[str]) -> list[str]:
    return next(line for line in lines if "Time left" in line).split()


def test_time_left_counts_down() -> None:
    event = EVENTS[0]
    assert [time_left(event, NOW + d) for d in (0, 30_000, 85_000, 90_000, 100_000)] == [
        "in 1m30s",
        "in 1m00s",
        "in 5.0s",
        "now",
        "now",
    ]


def test_full_table_when_it_fits() -> None:
    lines = render(upcoming_table(EVENTS, NOW), 120)
    assert lines[0] == "Upcoming listings and deliveries: 3, as of 2027-01-15 08:00:00 UTC"
    assert " ".join(header(lines)) == "Time left When (UTC) Event Symbol Type Status Mkt"
    rows = [line.split() for line in lines[4:] if line]
    assert rows[0][:5] == ["in", "1m30s", "2027-01-15", "08:01", "listing"]
    assert rows[1][4:7] == ["delisting", "GONEUSDT", "PERPETUAL"]
    assert rows[2] == [
        "in", "3d00h", "2027-01-18", "08:00", "delivery", "BTCUSD_270326", "NEXT_QUARTER",
        "TRADING", "CM",
    ]  # fmt: skip


def test_narrow_terminals_lose_columns_not_rows() -> None:
    wide = render(UpcomingView(EVENTS, NOW), 120)
    assert "Mkt" in wide[2]
    seen = []
    for width in (80, 60, 50, 40):
        lines = render(UpcomingView(EVENTS, NOW), width)
        table = [line for line in lines[2:] if line]
        assert all(len(line) <= width for line in lines)
        # One line per event, plus the header and its rule.
        assert len(table) == 2 + len(EVENTS)
        seen.append(" ".join(header(lines)))
    assert seen == [
        "Time left When (UTC) Event Symbol Status",
        "Time left Event Symbol Status",
        "Time left Event Symbol",
        "Time left Event Symbol",
    ]


def test_network_text_is_inert() -> None:
    hostile = Upcoming("listing", "[red]X\x1b[2J", NOW + 1000, "[b]S\x07", None, None, None)
    text = "\n".join(render(upcoming_table([hostile], NOW), 100))
    assert "[red]X␛[2J" in text and "[b]S␇" in text
    assert "\x1b" not in text and "\x07" not in text
