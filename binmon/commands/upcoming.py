"""``binmon upcoming``: one-off list of scheduled listings and deliveries.

Only click is imported at module level (``binmon --help`` stays fast); the
REST client and rich come in when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    current_env,
    rest_url_options,
    symbol_option,
    verbosity,
    verbosity_options,
)
from binmon.endpoints import endpoints

if TYPE_CHECKING:
    from binmon.diag import Diagnostics
    from binmon.env import Environment
    from binmon.upcoming import Upcoming


@click.command(
    "upcoming",
    short_help=SHORT_HELP["upcoming"],
    epilog="""\b
Examples:
  binmon upcoming
      a table of what is scheduled, with the time left
  binmon upcoming --json | jq -c 'select(.event == "listing")'
      only new listings, as JSON lines
  binmon upcoming -s 'BTC*' --market um
      BTC contracts of USD-M only (quarterly deliveries, say)
  binmon upcoming --rest-url http://127.0.0.1:9443
      against `binmon serve`
""",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="JSON lines on stdout, one per event (the default whenever stdout is not a terminal).",
)
@symbol_option
@click.option(
    "--market",
    type=click.Choice(["um", "cm"], case_sensitive=False),
    help="Keep only USD-M or COIN-M contracts.",
)
@rest_url_options
@verbosity_options
@click.pass_context
def command(
    ctx: click.Context,
    json_output: bool,
    symbols: tuple[str, ...],
    market: str | None,
    rest_url: str | None,
    testnet: bool,
) -> None:
    """Listings and deliveries the exchange has scheduled, soonest first.

    From the public GET /fapi/v1/exchangeInfo: a listing for every symbol
    whose onboard date is in the future, a delivery for every symbol whose
    delivery date is (quarterlies, and perpetuals being delisted).
    """
    from binmon.diag import Diagnostics
    from binmon.filters import Filters
    from binmon.upcoming import from_exchange_info, select

    env = current_env(ctx)
    diag = Diagnostics(env.stderr, verbosity(ctx))
    base = endpoints(None, rest_url, testnet).rest_url
    info = _exchange_info(base, diag)
    now_ms = int(env.clock() * 1000)
    events = select(from_exchange_info(info, now_ms), Filters.build(symbols=symbols, market=market))
    diag.debug(f"exchangeInfo: {len(info.get('symbols') or ())} symbols, {len(events)} events")
    if json_output or not env.stdout_isatty:
        _write_json(events, env)
    else:
        _write_table(events, now_ms, env, filtered=bool(symbols or market))


def _exchange_info(base: str, diag: Diagnostics) -> dict[str, Any]:
    import asyncio

    import aiohttp

    from binmon.rest import RestClient
    from binmon.signed_rest import DEFAULT_MAX_TRIES, PATIENCE

    async def fetch() -> dict[str, Any]:
        # Proxies come from binmon.proxy, per request (loopback never proxied).
        async with aiohttp.ClientSession() as session:
            # A one-off command rides out a brief 429/503 itself, as brackets does.
            client = RestClient(
                session, base, tries=DEFAULT_MAX_TRIES, patience=PATIENCE, diag=diag
            )
            return await client.exchange_info()

    return asyncio.run(fetch())


def _write_json(events: list[Upcoming], env: Environment) -> None:
    from binmon.upcoming import upcoming_line

    env.stdout.write(b"".join(upcoming_line(e) for e in events))
    env.stdout.flush()


def _write_table(events: list[Upcoming], now_ms: int, env: Environment, filtered: bool) -> None:
    from binmon.upcoming_view import UpcomingView

    console = env.console()
    if events:
        console.print(UpcomingView(events, now_ms))
    else:
        which = " that match -s/--market" if filtered else ""
        console.print(f"No listings or deliveries scheduled{which}.", markup=False)
