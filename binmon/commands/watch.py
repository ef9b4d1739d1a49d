from __future__ import annotations

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    account_options,
    hold_option,
    position_option,
    stream_options,
)
from binmon.commands.streaming import run_stream


@click.command(
    "watch",
    short_help=SHORT_HELP["watch"],
    epilog="""\b
Examples:
  binmon watch                          both tables, change log, feed health
  binmon watch -s 'BTC*' --market um    only matching contracts
  binmon watch --alert all --bell       alerts marked in the change log, bell rung
  binmon watch --json | jq -c 'select(.type=="contract_info")'
  binmon watch --ws-url ws://127.0.0.1:9443 --rest-url http://127.0.0.1:9443
""",
)
@stream_options
@hold_option
@position_option
@account_options
def command(options: StreamOptions) -> None:
    """Both streams at once: asset index table, contract table and recent changes."""
    from binmon.runner import ASSETS, CONTRACTS

    run_stream((ASSETS, CONTRACTS), options)
