"""What the view tests share: a fixed clock, a fixed console, a model with known contents."""

from __future__ import annotations

import io
from typing import Literal

from rich.console import Console, RenderableType

from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.protocol import AssetIndex, Bracket, ContractInfo
from binmon.run_config import Endpoints
from binmon.runner import ASSETS, CONTRACTS, RunConfig, Runner
from binmon.state import Contract, ContractBook
from binmon.status import StreamStatus
from binmon.view import LiveView, Now, ScreenModel, render_screen

# 2025-12-24 07:49:09.558 UTC; the monotonic clock is arbitrary.
NOW = Now(wall_ms=1766562549558.0, mono=5000.0)
T = int(NOW.wall_ms)


def render(renderable: RenderableType | list[RenderableType], width: int, height: int = 60) -> str:
    console = Console(
        width=width,
        height=height,
        color_system=None,
        record=True,
        file=io.StringIO(),
        legacy_windows=False,
    )
    for item in renderable if isinstance(renderable, list) else [renderable]:
        console.print(item)
    return console.export_text()


def colour_terminal(
    width: int, height: int, colours: Literal["256", "truecolor"] = "truecolor"
) -> Console:
    """A console that takes itself for a colour terminal, writing to memory."""
    return Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=colours,
        legacy_windows=False,
        _environ={},
    )


def asset(symbol: str, t: int, price: str, *rest: str) -> AssetIndex:
    return AssetIndex(symbol, t, price, *rest)


ADA = ("0.10000000", "0.10000000", "0.24716207", "0.30208698")
ADA_AUTO = ("0.05000000", "0.05000000", "0.26089330", "0.28835575")
BTC = ("0.05000000", "0.05000000", "81859.95446399", "90476.79177599")
BTC_AUTO = ("0.02500000", "0.02500000", "84014.16379199", "88322.58244799")
USDT = ("0.00010000", "0.00010000", "0.99977692", "0.99997689")


def bracket(n: int, floor: str, cap: str, mmr: str, cum: str, lev: str) -> Bracket:
    return Bracket(n, floor, cap, mmr, cum, None, lev)


def build_model(kinds: tuple[str, ...] = (ASSETS, CONTRACTS)) -> ScreenModel:
    book = ContractBook()
    book.seed(
        [
            Contract(
                "BTCUSDT", "BTCUSDT", "PERPETUAL", "TRADING", 4133404802000, 1569398400000, "UM"
            ),
            Contract(
                "ETHUSDT", "ETHUSDT", "PERPETUAL", "TRADING", 4133404800000, 1569398400000, "UM"
            ),
            Contract(
                "XYZUSDT", "XYZUSDT", "PERPETUAL", "TRADING", 4133404800000, 1697034600000, "UM"
            ),
            Contract(
                "BTCUSDT_251226",
                "BTCUSDT",
                "CURRENT_QUARTER",
                "TRADING",
                1766736000000,
                1750924800000,
                "UM",
            ),
            Contract(
                "币安人生USDT",
                "币安人生USDT",
                "PERPETUAL",
                "TRADING",
                4133404800000,
                1759300000000,
                "UM",
            ),
            Contract(
                "ADAUSD_PERP", "ADAUSD", "PERPETUAL", "TRADING", 4133404800000, 1597042800000, "CM"
            ),
        ]
    )
    model = ScreenModel(kinds=kinds, command="watch", contracts=book.contracts)

    def event(symbol: str, t: int, **kw: object) -> None:
        known = book.contracts.get(symbol)
        fields: dict[str, object] = {
            "pair": known.pair if known else symbol,
            "contract_type": known.contract_type if known else "PERPETUAL",
            "status": known.status if known else "TRADING",
            "delivery_time": known.delivery_time if known else 4133404800000,
            "onboard_time": known.onboard_time if known else 1766560000000,
            "market": None,
            "brackets": [],
        }
        fields.update(kw)
        info = ContractInfo(symbol=symbol, event_time=t, **fields)  # type: ignore[arg-type]
        model.apply_contract(info, book.apply(info))

    btc = [
        bracket(1, "0", "300000", "0.004", "0", "125"),
        bracket(2, "300000", "800000", "0.005", "300", "100"),
    ]
    event("BTCUSDT", T - 600_000, brackets=btc)  # first brackets: not a change
    event(
        "BTCUSDT",
        T - 300_000,
        brackets=[bracket(1, "0", "300000", "0.004", "0", "100"), btc[1]],
    )
    event("XYZUSDT", T - 120_000, status="SETTLING", delivery_time=1766563200000)
    event(
        "ETHUSDT",
        T - 90_000,
        brackets=[bracket(1, "0", "300000", "0.004", "0", "125")],
    )
    event(
        "ETHUSDT",
        T - 80_000,
        brackets=[
            bracket(1, "0", "300000", "0.004", "0", "125"),
            bracket(7, "5000000", "10000000", "0.05", "100000", "10"),
        ],
    )
    event("LOOMUSDT", T - 30_000, status="PENDING_TRADING")

    # Asset index: three ticks a minute apart, the last one 0.5 s ago and changed.
    model.apply_assets(
        [
            asset("ADAUSD", T - 120_000, "0.27462452", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 120_000, "86168.37311999", *BTC, *BTC_AUTO),
            asset("USDTUSD", T - 120_000, "0.99987691", *USDT, *USDT[:2], *USDT[2:]),
        ],
        NOW.wall_ms - 120_000,
    )
    model.apply_assets(
        [
            asset("ADAUSD", T - 60_000, "0.27300000", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 60_000, "86200.00000000", *BTC, *BTC_AUTO),
        ],
        NOW.wall_ms - 60_000,
    )
    model.apply_assets(
        [
            asset("ADAUSD", T - 1_000, "0.27462499", *ADA, *ADA_AUTO),
            asset("BTCUSD", T - 1_000, "86168.37311999", *BTC, *BTC_AUTO),
        ],
        NOW.wall_ms - 500,
    )
    model.statuses = {
        ASSETS: StreamStatus(
            ASSETS,
            url="wss://fstream.binance.com/market/stream?streams=!assetIndex@arr",
            state="connected",
            last_message_at=NOW.mono - 0.4,
            last_event_time_ms=T - 1000,
            messages=120,
            rate=1.0,
            rotation_at=NOW.mono + 82_000,
            connected_since=NOW.mono - 800,
        ),
        CONTRACTS: StreamStatus(
            CONTRACTS,
            url="wss://fstream.binance.com/market/stream?streams=!contractInfo",
            state="reconnecting",
            reason="closed by server (code 1000)",
            next_retry_at=NOW.mono + 1.3,
            reconnects=2,
            malformed=1,
            last_message_at=NOW.mono - 30,
        ),
    }
    model.statuses = {k: v for k, v in model.statuses.items() if k in kinds}
    model.lag_ms = {ASSETS: 152.0, CONTRACTS: 87.0}
    model.message(
        "binmon: contract info: closed by server (code 1000); reconnecting in 1.3s", T - 100
    )
    return model


# --- sorting and filtering -----------------------------------------------------------------


def rows_of(text: str, symbols: tuple[str, ...]) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.startswith(symbols)]


# --- the live view as the runner builds it -----------------------------------------------


def make_runner(kinds: tuple[str, ...] = (ASSETS, CONTRACTS), **config: object) -> Runner:
    env = Environment(
        stdout=io.BytesIO(),
        stderr=io.StringIO(),
        stdout_isatty=True,
        stderr_isatty=False,
        no_color=True,
        width=120,
        height=30,
    )
    run_config = RunConfig(
        kinds=kinds,
        endpoints=Endpoints("ws://127.0.0.1:9", "http://127.0.0.1:9"),
        json=False,
        **config,  # type: ignore[arg-type]
    )
    return Runner(run_config, env, Diagnostics(env.stderr))


def keyed_view() -> tuple[Runner, LiveView]:
    """A runner's live view over build_model's contracts and assets."""
    runner = make_runner()
    view = runner.view
    assert isinstance(view, LiveView)
    model = build_model()
    runner.book.contracts.update(model.contracts)
    view.model.contracts_version += 1
    view.model.apply_assets([row.event for row in model.assets.values()], NOW.wall_ms)
    view.model.history = model.history
    return runner, view


def screen(view: LiveView, width: int = 160, height: int = 45, now: Now = NOW) -> str:
    return render(render_screen(view.model, width, height, now), width, height)


# --- collateral and positions ----------------------------------------------------------


def with_holdings(model: ScreenModel, exchange_total: str | None = None) -> ScreenModel:
    from binmon.collateral import Collateral, parse_holds

    collateral = Collateral(parse_holds(["BTC=0.5", "USDT=-1000", "ADA=0", "XYZ=3"]))
    collateral.replace(collateral.holdings, exchange_total)
    collateral.events([row.event for row in model.assets.values()])
    model.collateral = collateral.report(T - 1_000)[0]
    return model
