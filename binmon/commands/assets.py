from __future__ import annotations

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    account_options,
    hold_option,
    stream_options,
)
from binmon.commands.streaming import run_stream


@click.command(
    "assets",
    short_help=SHORT_HELP["assets"],
    epilog="""\b
Examples:
  binmon assets                          every asset, live table (JSON lines when piped)
  binmon assets BTCUSD ETHUSD --json     two assets, one stream each
  binmon assets --json | jq -c '{symbol, index_price}'
  binmon assets -n 20 --json > snapshot.jsonl
  binmon assets --from day.jsonl.gz --json
""",
)
@click.argument("assets", nargs=-1, metavar="[ASSET]...")
@stream_options
@hold_option
@account_options
def command(assets: tuple[str, ...], options: StreamOptions) -> None:
    """Asset index: index price, bid/ask buffers and rates, auto-exchange rates.

    With no ASSET, the `!assetIndex@arr` stream (every asset, every second);
    otherwise one `<asset>@assetIndex` stream per ASSET (e.g. BTCUSD,
    case-insensitive).
    """
    from binmon.runner import ASSETS

    run_stream((ASSETS,), options, assets=tuple(a.upper() for a in assets))
