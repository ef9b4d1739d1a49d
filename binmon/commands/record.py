from __future__ import annotations

from dataclasses import replace

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    collect_stream_options,
    connection_options,
    metrics_option,
    verbosity_options,
)
from binmon.commands.streaming import run_stream


@click.command(
    "record",
    short_help=SHORT_HELP["record"],
    epilog="""\b
Examples:
  binmon record day.jsonl.gz                     both streams, gzip-compressed
  binmon record assets.jsonl --only assets --duration 3600
  binmon record contracts.jsonl --only contracts
  binmon assets --from day.jsonl.gz --json       replay it later
  binmon record day.jsonl.gz --metrics 127.0.0.1:9477   and let Prometheus watch it
""",
)
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "--only",
    type=click.Choice(["assets", "contracts"], case_sensitive=False),
    help="Record one stream instead of both.",
)
@click.option(
    "-n", "--count", type=click.IntRange(min=1), metavar="N", help="Stop after N events, exit 0."
)
@click.option(
    "--duration", type=click.FloatRange(min=0), metavar="SECONDS", help="Stop after that long."
)
@metrics_option
@connection_options
@verbosity_options
@collect_stream_options
def command(file: str, only: str | None, options: StreamOptions) -> None:
    """Write every received frame to FILE, with its receive time.

    One JSON line per frame: {"recv_time":ms,"stream":name,"data":payload},
    the payload exactly as the exchange sent it. A FILE ending in .gz is
    gzip-compressed. Appends to an existing FILE. Replay with --from FILE.
    """
    from binmon.runner import ASSETS, CONTRACTS

    kinds = {"assets": (ASSETS,), "contracts": (CONTRACTS,)}.get(
        (only or "").lower(), (ASSETS, CONTRACTS)
    )
    run_stream(kinds, replace(options, json_output=True), record_path=file)
