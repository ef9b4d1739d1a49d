from __future__ import annotations

from dataclasses import replace

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    alert_options,
    collect_stream_options,
    verbosity_options,
)
from binmon.commands.streaming import build_run


@click.command(
    "demo",
    short_help=SHORT_HELP["demo"],
    epilog="""\b
Examples:
  binmon demo                      live tables against a simulated exchange
  binmon demo --rate 5             everything five times faster
  binmon demo --json -n 50 | jq -c '{type, symbol}'
""",
)
@click.option("--seed", type=int, default=None, help="Scenario seed (default: a new one each run).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1, max=100),
    default=1.0,
    show_default=True,
    help="Asset index frames per second; contract events speed up alike.",
)
@click.option("--json", "json_output", is_flag=True, help="JSON lines instead of tables.")
@click.option(
    "-n", "--count", type=click.IntRange(min=1), metavar="N", help="Stop after N events, exit 0."
)
@click.option(
    "--duration", type=click.FloatRange(min=0), metavar="SECONDS", help="Stop after that long."
)
@alert_options
@verbosity_options
@collect_stream_options
def command(seed: int | None, rate: float, options: StreamOptions) -> None:
    """`watch` against a local simulated exchange: needs no network at all.

    Starts `binmon serve` in-process on a free port with a generated scenario
    (asset index every second, listings, delistings and bracket changes every
    few seconds; one of each within the first fifteen seconds) and shows it.
    The data is simulated, and labelled so. Press ? for the keys.
    """
    import asyncio

    from binmon.run_config import Endpoints
    from binmon.runner import ASSETS, CONTRACTS, Runner
    from binmon.server import DEMO_API_KEY, DEMO_API_SECRET, ServerConfig, start_server
    from binmon.signed_rest import Credentials

    async def main() -> None:
        server_config = ServerConfig(rate=rate, seed=seed if seed is not None else _lively_seed())
        server, port = await start_server(server_config, "127.0.0.1", 0)
        try:
            local = Endpoints(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
            # The demo shows alerts too (every kind unless told), marked in the change log.
            shown = options if options.alerts else replace(options, alerts=("all",))
            # The simulated exchange's own key: its account gives collateral and
            # positions to show, and its signed brackets seed the ladders.
            config, env, diag = build_run(
                (ASSETS, CONTRACTS),
                shown,
                endpoints=local,
                demo=True,
                account=True,
                credentials=Credentials(DEMO_API_KEY, DEMO_API_SECRET),
            )
            diag.info(f"demo: simulated exchange on {local.ws_url} (no network used)")
            await Runner(config, env, diag).run()
        finally:
            await server.cleanup()

    asyncio.run(main())


# A newcomer should see an alert early: a listing or a status change within
# this many scenario ticks (the first 15 s at the default rate, with margin).
_ALERT_WITHIN_TICKS = 12
_SEED_TRIES = 8


def _lively_seed() -> int:
    """A new scenario seed whose first seconds raise an alert (most do; ~60 ms a try)."""
    import random

    from binmon.server.scenario import Scenario

    seed = random.randrange(1 << 30)
    for _ in range(_SEED_TRIES):
        scenario = Scenario(seed)
        status = {symbol: c.status for symbol, c in scenario.contracts.items()}
        for tick in range(1, _ALERT_WITHIN_TICKS + 1):
            for event in scenario.tick(scenario.start_ms + tick * 1000).contracts:
                if status.get(event.s) != event.cs:
                    return seed
        seed = random.randrange(1 << 30)
    return seed
