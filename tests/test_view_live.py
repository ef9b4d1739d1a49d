"""The live view (binmon/view/live.py): keys, selection, filter prompt, help, pause, detail, refresh loop."""

# The golden screens are as wide as the terminals they stand for.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import io

import pytest
from rich.text import Text

from binmon.protocol import ContractInfo
from binmon.runner import ASSETS, CONTRACTS
from binmon.state import Contract
from binmon.status import StreamStatus
from binmon.view import LiveView, Now, ScreenModel, make_live_view, render_screen
from binmon.view.contracts import contract_section
from binmon.view.log import log_section
from tests.view_fixtures import (
    ADA,
    ADA_AUTO,
    BTC,
    BTC_AUTO,
    NOW,
    T,
    asset,
    build_model,
    keyed_view,
    make_runner,
    render,
    rows_of,
    screen,
)
from tests.waiting import wait_until


def test_runner_gets_a_live_view_with_sort_options() -> None:
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    assert view.sort == "symbol" and view.contract_sort == "recent"
    view.sort = "price"
    assert view.model.asset_sort == "price"
    with pytest.raises(ValueError):
        view.sort = "volume"
    assert isinstance(make_live_view(runner.view_input()), LiveView)


def test_keys() -> None:
    runner, view = keyed_view()
    view.keys(b"s")
    assert view.sort == "change"
    view.keys(b"cs")
    assert view.contract_sort == "symbol" and view.sort == "price"
    # Arrows move a selection (the first selects the top row); the table follows it.
    view.keys(b"\x1b[B\x1b[Bj")
    assert view.model.selected == "BTCUSDT_251226"  # third by symbol
    view.keys(b"\x1b[A")
    assert view.model.selected == "BTCUSDT"
    view.keys(b"G")
    assert view.model.selected == "币安人生USDT"
    view.keys(b"\x1b[H")
    assert view.model.selected == "ADAUSD_PERP"
    assert not runner.stop.is_set()
    view.keys(b"xq")
    assert view.quit_requested and runner.stop.is_set()


def test_selection_is_highlighted_and_followed_by_scrolling() -> None:
    model = build_model((CONTRACTS,))
    for i in range(50):
        model.contracts[f"Z{i:03d}USDT"] = Contract(f"Z{i:03d}USDT", status="TRADING")
    model.contracts_version += 1
    model.contract_sort = "symbol"
    contract_section(model, 100, 10, NOW)  # a page is 8 rows
    model.move_selection(1)
    model.move_selection(model.contract_page)  # PgDn
    assert model.selected == "Z002USDT"  # the ninth row by symbol
    section = contract_section(model, 100, 10, NOW)
    text = render(section, 100)
    assert "rows 2–9" in text  # scrolled just enough to show it, at the bottom
    highlighted = [
        line.plain.split()[0]
        for line in section
        if isinstance(line, Text) and any("reverse" in str(span.style) for span in line.spans)
    ]
    assert highlighted == ["Z002USDT"]
    model.move_selection(-10_000)
    assert model.selected == "ADAUSD_PERP"
    assert "rows 1–8" in render(contract_section(model, 100, 10, NOW), 100)


def test_filter_prompt_narrows_both_tables_and_esc_restores_them() -> None:
    _, view = keyed_view()
    everything = screen(view)
    assert "BTCUSDT_251226" in everything and "ADAUSD " in everything
    view.keys(b"/btx")
    assert "/btx" in screen(view).splitlines()[-1]  # the prompt, on the last line
    view.keys(b"\x7fc\n")  # Backspace, c, Enter
    assert view.model.prompt is None
    text = screen(view)
    contracts = rows_of(text, ("BTC", "ETH", "XYZ", "LOOM", "ADA", "币安"))
    # Plain text matches anywhere in the symbol, in both tables.
    assert sorted(set(contracts)) == ["BTCUSD", "BTCUSDT", "BTCUSDT_251226"]
    assert "Contracts  2 of 7 match the filters  filter: btc" in text
    assert "Asset index  1  sort: symbol  filter: btc" in text
    view.keys(b"/")
    assert view.model.prompt == "btc"  # the prompt starts from the filter in force
    view.keys(b"\x15*USD\r")  # Ctrl-U, then a glob: the whole symbol must match
    text = screen(view)
    assert sorted(set(rows_of(text, ("BTC", "ETH", "ADA", "USDT")))) == [
        "ADAUSD",
        "BTCUSD",
        "USDTUSD",
    ]
    view.keys(b"\x1b")  # Esc: the filter is gone, every row is back
    assert view.model.search is None
    assert screen(view) == everything
    view.keys(b"/xyz\x1b")  # Esc at the prompt: closed, nothing applied
    assert view.model.prompt is None and view.model.search is None
    assert screen(view) == everything


def test_help_lists_every_key_and_any_key_closes_it() -> None:
    from binmon.view.log import HELP_KEYS

    _, view = keyed_view()
    view.keys(b"?")
    text = screen(view)
    assert "Keys  (any key closes this)" in text and "Contracts" not in text
    for key, what in HELP_KEYS:
        assert f"{key}  " in text and what[:40] in text
    for key in ("/", "?", "p", "u", "Enter", "Esc", "q", "s", "c"):
        assert any(line.strip().startswith(key) for line in text.splitlines()), key
    view.keys(b"s")  # closes the help and does nothing else
    assert not view.model.help_shown and view.sort == "symbol"
    assert "Contracts" in screen(view)


def test_pause_freezes_the_tables_while_events_are_counted() -> None:
    runner, view = keyed_view()
    view.keys(b"p")
    frozen = screen(view)
    assert "⏸ PAUSED  since" in frozen and "0 events received" in frozen
    view.assets([asset("ADAUSD", T + 1000, "0.99999999", *ADA, *ADA_AUTO)], None)
    listed = ContractInfo(
        "NEWUSDT", T, "NEWUSDT", "PERPETUAL", "PENDING_TRADING", 4133404800000, T, "UM", []
    )
    view.contract(listed, runner.book.apply(listed), None)  # the feed updates the book first
    paused = screen(view)
    assert "2 events received" in paused
    # The status lines stay live (lag, counts); the tables below are exactly as they were.
    assert "lag" in paused.splitlines()[1] and "lag" not in frozen.splitlines()[1]
    assert paused.splitlines()[3:] == frozen.splitlines()[3:]
    assert "0.99999999" not in paused
    view.keys(b"p")
    live = screen(view)
    assert "PAUSED" not in live and "0.99999999" in live and "NEWUSDT" in live


def test_upcoming_section_counts_down() -> None:
    runner, view = keyed_view()
    contracts = runner.book.contracts
    contracts["SOONUSDT"] = Contract(
        "SOONUSDT", "SOONUSDT", "PERPETUAL", "PENDING_TRADING", 4133404800000, T + 65_000, "UM"
    )
    contracts["BTCUSDT_260327"] = Contract(
        "BTCUSDT_260327", "BTCUSDT", "NEXT_QUARTER", "TRADING", T + 3 * 86_400_000, T - 1, "UM"
    )
    view.model.contracts_version += 1
    assert "Upcoming" not in screen(view)
    view.keys(b"u")
    text = screen(view)
    assert "Upcoming listings and deliveries  4  (u hides)" in text
    lines = [line for line in text.splitlines() if line.lstrip().startswith("in ")]
    # Soonest first: the listing, XYZUSDT's delisting, then the two quarterlies' deliveries.
    assert [line.split()[:6] for line in lines] == [
        ["in", "1m05s", "2025-12-24", "07:50", "listing", "SOONUSDT"],
        ["in", "10m50s", "2025-12-24", "08:00", "delisting", "XYZUSDT"],
        ["in", "2d00h", "2025-12-26", "08:00", "delivery", "BTCUSDT_251226"],
        ["in", "3d00h", "2025-12-27", "07:49", "delivery", "BTCUSDT_260327"],
    ]
    assert "PENDING_TRADING" in lines[0]
    later = screen(view, now=Now(NOW.wall_ms + 60_000, NOW.mono + 60))
    assert "in 5.0s" in later
    gone = screen(view, now=Now(NOW.wall_ms + 70_000, NOW.mono + 70))
    assert "SOONUSDT" in gone  # still in the contract table…
    assert "Upcoming listings and deliveries  3" in gone  # …no longer upcoming
    view.keys(b"u")
    assert "Upcoming" not in screen(view)


def test_enter_opens_the_contract_with_its_ladder_and_changes() -> None:
    _, view = keyed_view()
    view.keys(b"cjj")  # by symbol: ADAUSD_PERP, then BTCUSDT
    assert view.model.selected == "BTCUSDT"
    view.keys(b"\n")
    text = screen(view)
    lines = text.splitlines()
    assert lines[3].startswith("BTCUSDT  PERPETUAL  UM  TRADING  Esc back")
    assert "listing 2019-09-25 08:00   delivery perpetual" in lines[4]
    # The brackets table and the ladder picture of `binmon brackets`.
    assert "Max leverage by notional (log scale)" in text
    assert "Bracket" in text and "Notional" in text and "300000" in text
    assert "100x ███" in text and "Contracts" not in text
    assert "Changes seen this run" in text
    assert "bracket 1 max leverage 125 → 100" in text
    view.keys(b"\x1b[B")  # the next contract, without leaving the detail
    assert view.model.detail == "BTCUSDT_251226"
    text = screen(view)
    assert "delivery 2025-12-26 08:00 (in 2d00h)" in text
    assert "No brackets seen yet" in text
    view.keys(b"\x1b")
    assert view.model.detail is None and "Contracts" in screen(view)
    assert view.model.search is None


def test_a_lone_escape_is_a_key() -> None:
    from binmon.view.live import _split_keys

    assert _split_keys(b"\x1b") == [b"\x1b"]
    assert _split_keys(b"\x1b/a") == [b"\x1b", b"/", b"a"]
    assert _split_keys(b"\x1b[B\x1b\x1bOA") == [b"\x1b[B", b"\x1b", b"\x1bOA"]


def test_seed_assets_keeps_the_assets_asked_for() -> None:
    runner = make_runner((ASSETS,), assets=("BTCUSD",))
    view = runner.view
    assert isinstance(view, LiveView)
    view.asset_snapshot(
        [
            asset("ADAUSD", T, "0.27462452", *ADA, *ADA_AUTO),
            asset("BTCUSD", T, "86168.37311999", *BTC, *BTC_AUTO),
        ]
    )
    assert list(view.model.assets) == ["BTCUSD"]
    # A late seed never overwrites newer stream data, nor flashes.
    view.assets([asset("BTCUSD", T + 5000, "86000.00000000", *BTC, *BTC_AUTO)], None)
    view.asset_snapshot([asset("BTCUSD", T, "86168.37311999", *BTC, *BTC_AUTO)])
    assert view.model.assets["BTCUSD"].event.index_price == "86000.00000000"


async def test_refresh_loop_paints_and_owns_diagnostics_only_while_running() -> None:
    # (How often it paints under a flood of data, at most four times a second,
    # is measured in benchmarks/view.py: a rate is a timing, not a unit test.)
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    out = runner.env.stdout
    assert isinstance(out, io.BytesIO)
    task = asyncio.create_task(view.run(runner.stop))
    await wait_until(lambda: runner.diag.sink is not None, what="the view to take diagnostics")
    runner.diag.info("asset index: connection closed; reconnecting in 0.5s")
    view.assets([asset("ADAUSD", T + 1, "0.12345678", *ADA, *ADA_AUTO)], None)
    await wait_until(lambda: b"0.12345678" in out.getvalue(), what="a paint with the update")
    runner.stop.set()
    await asyncio.wait_for(task, 2)
    written = out.getvalue()
    assert b"\x1b[?1049h" in written and b"\x1b[?1049l" in written
    assert b"reconnecting in 0.5s" in written  # the diagnostic went to the screen…
    assert runner.env.stderr.getvalue() == ""  # type: ignore[attr-defined]
    assert runner.diag.sink is None  # …and stderr is back afterwards
    assert b"\x1b[3" not in written  # NO_COLOR: no foreground colours


def test_a_replay_is_shown_on_its_own_clock() -> None:
    model = ScreenModel(kinds=(ASSETS,), replay="day.jsonl.gz")
    then = T - 10 * 86_400_000
    model.statuses = {ASSETS: StreamStatus(ASSETS, last_event_time_ms=then)}
    model.apply_assets([asset("ADAUSD", then - 2000, "0.27462452", *ADA, *ADA_AUTO)], then)
    lines = render(render_screen(model, 120, 8, NOW), 120, 8).splitlines()
    assert lines[0].startswith("binmon watch  2025-12-14 07:49:09 UTC (recording)")
    assert lines[1].startswith("asset index    ▶ REPLAY  day.jsonl.gz  0.0 msg/s  at 07:49:09")
    assert "lag" not in lines[1]
    assert lines[4].startswith("ADAUSD") and lines[4].endswith("  2.0s")


def test_an_alert_is_marked_in_the_log_and_on_its_row() -> None:
    from binmon.alerts import Alert
    from binmon.view.model import ALERT_FLASH_MS

    model = build_model()
    model.apply_alert(
        Alert(
            "leverage-cut", "BTCUSDT", T, "BTCUSDT leverage cut: bracket 1 max leverage 125 → 100"
        ),
        NOW.wall_ms,
    )
    model.apply_alert(Alert("feed", None, None, "contract info stream not delivering for 30s"), T)
    log = render(log_section(model, 100, 4, NOW), 100)
    assert "feed      ALERT contract info stream not delivering for 30s" in log
    assert "BTCUSDT   ALERT leverage cut: bracket 1 max leverage 125 → 100" in log
    assert model.alerted("BTCUSDT", NOW.wall_ms)
    # The view repaints when the mark ends, once the sooner value flashes have.
    model.expire_flashes(NOW.wall_ms + ALERT_FLASH_MS - 1)
    assert model.next_flash_expiry() == NOW.wall_ms + ALERT_FLASH_MS
    model.expire_flashes(NOW.wall_ms + ALERT_FLASH_MS)
    assert not model.alerted("BTCUSDT", NOW.wall_ms + ALERT_FLASH_MS)
