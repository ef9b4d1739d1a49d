from __future__ import annotations

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    account_options,
    position_option,
    stream_options,
)
from binmon.commands.streaming import run_stream


@click.command(
    "contracts",
    short_help=SHORT_HELP["contracts"],
    epilog="""\b
Examples:
  binmon contracts                              live contract table and change log
  binmon contracts --json >> changes.jsonl      every event, unattended
  binmon contracts --changes-only --json | jq -c '.changes'
  binmon contracts --status SETTLING --market um
  binmon contracts -s 'BTC*' -s '*USDC' --type PERPETUAL
  binmon contracts --alert listing --alert leverage-cut --exec './tell-me.sh'
      each alert's JSON line on the script's stdin (README: Alerts)
""",
)
@stream_options
@position_option
@account_options
def command(options: StreamOptions) -> None:
    """Contract info (`!contractInfo`): status, listings, delistings, bracket changes.

    Each event carries `changes`: what differs from the last state binmon knew
    (seeded from the public exchangeInfo snapshot at start).
    """
    from binmon.runner import CONTRACTS

    run_stream((CONTRACTS,), options)
