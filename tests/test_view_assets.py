"""The asset index section (binmon/view/assets.py): golden tables, sort orders, sparklines, collateral."""

# The golden screens are as wide as the terminals they stand for.
# ruff: noqa: E501

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.view import format as fmt
from binmon.view.assets import asset_section
from tests.view_fixtures import (
    BTC,
    BTC_AUTO,
    NOW,
    USDT,
    T,
    asset,
    build_model,
    render,
    rows_of,
    with_holdings,
)

# --- golden tables (no colour, pinned clocks) ----------------------------------------


ASSETS_160 = """\
Asset index  3  sort: symbol
asset         index price  5m trend        5m %     bid buf     ask buf        bid rate        ask rate   auto bid rate   auto ask rate    age
ADAUSD       0.27462499 ▲  ██████▁▁▁▁▁█  +0.00%  0.10000000  0.10000000      0.24716207      0.30208698      0.26089330      0.28835575   1.0s
BTCUSD   86168.37311999 ▼  ▁▁▁▁▁▁█████▁  +0.00%  0.05000000  0.05000000  81859.95446399  90476.79177599  84014.16379199  88322.58244799   1.0s
USDTUSD      0.99987691               ▁          0.00010000  0.00010000      0.99977692      0.99997689      0.99977692      0.99997689  2m00s
"""


ASSETS_80 = """\
Asset index  3  sort: symbol
asset         index price  5m trend            bid rate        ask rate    age
ADAUSD       0.27462499 ▲  ██████▁▁▁▁▁█      0.24716207      0.30208698   1.0s
BTCUSD   86168.37311999 ▼  ▁▁▁▁▁▁█████▁  81859.95446399  90476.79177599   1.0s
USDTUSD      0.99987691               ▁      0.99977692      0.99997689  2m00s
"""


def test_asset_table() -> None:
    assert render(asset_section(build_model(), 160, 10, NOW), 160) == ASSETS_160


def test_asset_table_at_80_columns_drops_low_priority_columns() -> None:
    text = render(asset_section(build_model(), 80, 10, NOW), 80)
    assert text == ASSETS_80
    assert "auto" not in text and "bid buf" not in text  # dropped whole, not squeezed
    assert all(len(line) <= 80 for line in text.splitlines())


def test_asset_sort_orders() -> None:
    model = build_model()
    symbols = ("ADAUSD", "BTCUSD", "USDTUSD")
    model.asset_sort = "price"
    assert rows_of(render(asset_section(model, 160, 10, NOW), 160), symbols) == [
        "BTCUSD",
        "USDTUSD",
        "ADAUSD",
    ]
    model.asset_sort = "change"  # biggest absolute move over the window first
    model.apply_assets([asset("USDTUSD", T, "0.90000000", *USDT, *USDT)], NOW.wall_ms)
    assert rows_of(render(asset_section(model, 160, 10, NOW), 160), symbols)[0] == "USDTUSD"


def _sparkline_reference(
    points: list[tuple[float, float]], width: int, start: float, end: float
) -> str:
    """Slot by slot, point by point: what ``fmt.sparkline`` finds by bisection."""
    if width <= 0 or not points or end <= start:
        return " " * max(width, 0)
    span = (end - start) / width
    cells: list[float | None] = [None] * width
    for t, v in points:
        if t >= start:
            cells[min(width - 1, int((t - start) / span))] = v
    filled: list[float | None] = []
    for value in cells:
        filled.append(filled[-1] if value is None and filled else value)
    present = [v for v in filled if v is not None]
    if not present:
        return " " * width
    low, high = min(present), max(present)
    if high - low <= abs(high) * 1e-12:
        return "".join(" " if v is None else fmt.BLOCKS[0] for v in filled)
    scale = (len(fmt.BLOCKS) - 1) / (high - low)
    return "".join(" " if v is None else fmt.BLOCKS[round((v - low) * scale)] for v in filled)


@settings(max_examples=400)
@given(
    times=st.lists(st.integers(0, 400), unique=True, max_size=60),
    values=st.lists(st.floats(-1e6, 1e6), min_size=60, max_size=60),
    width=st.integers(0, 14),
    start=st.integers(-50, 300),
    length=st.floats(0.5, 400),
)
def test_sparkline_is_the_point_by_point_one(
    times: list[int], values: list[float], width: int, start: int, length: float
) -> None:
    # Times on and around slot boundaries, as from a deque (how the rows keep them).
    points = deque((float(t), v) for t, v in zip(sorted(times), values, strict=False))
    expected = _sparkline_reference(list(points), width, start, start + length)
    assert fmt.sparkline(points, width, start, start + length) == expected


@settings(max_examples=300)
@given(
    data=st.data(),
    width=st.integers(1, 14),
    start=st.floats(-1e13, 1e13, allow_nan=False),
    length=st.floats(1e-3, 1e7),
)
def test_sparkline_points_on_slot_boundaries(
    data: st.DataObject, width: int, start: float, length: float
) -> None:
    # Points exactly on the boundaries the slot formula computes, and one float
    # either side, where an off-by-one in the bisection would show.
    import math

    span = length / width
    times = set()
    for k in data.draw(st.lists(st.integers(0, width), max_size=width + 1)):
        at = start + k * span
        times.update((math.nextafter(at, -math.inf), at, math.nextafter(at, math.inf)))
    points = deque((t, float(i % 5)) for i, t in enumerate(sorted(times)))
    expected = _sparkline_reference(list(points), width, start, start + length)
    assert fmt.sparkline(points, width, start, start + length) == expected


def test_a_rows_sparkline_is_drawn_again_only_when_its_history_moves() -> None:
    from binmon.view.assets import spark

    model = build_model()
    row = model.assets["BTCUSD"]
    drawn = spark(row)
    assert spark(row) is drawn  # nothing moved: the same string
    # Each a minute later (a point added), the last within the same second (the
    # last point replaced: the history keeps one a second).
    for at, price in ((60_000, "90000.5"), (120_000, "80000.25"), (120_400, "95000.0")):
        event = asset("BTCUSD", T + at, price, *BTC, *BTC_AUTO)
        model.apply_assets([event], NOW.wall_ms)
        moved = spark(row)
        row.spark = None  # what it draws from scratch
        assert moved == spark(row) != drawn
        drawn = moved


COLLATERAL_100 = """\
Collateral  total 39930.000341995 USD  haircut 2154.309308  1 unvalued  at 07:49:08
holding  quantity            rate used      value (USD)      haircut    share
BTC           0.5   bid 81859.95446399  40929.977231995  2154.209328  102.50%
USDT        -1000       ask 0.99997689       -999.97689      0.09998   -2.50%
ADA             0       bid 0.24716207                0            0    0.00%
XYZ             3  unvalued: no XYZUSD
"""


def test_collateral_section() -> None:
    from binmon.view.assets import collateral_section

    model = with_holdings(build_model())
    text = render(collateral_section(model, 100, 10, NOW), 100)
    assert text == COLLATERAL_100


def test_collateral_section_sets_the_exchange_total_beside_ours() -> None:
    from binmon.view.assets import collateral_section

    model = with_holdings(build_model(), exchange_total="39930.01000000")
    title = render(collateral_section(model, 160, 1, NOW), 160)
    assert title.startswith("Collateral  total 39930.000341995 USD  exchange says 39930.01000000")
