"""``binmon brackets``: one-off leverage bracket inspection.

Arguments only: what the command does lives in binmon.brackets_report. Only
click is imported at module level (``binmon --help`` stays fast); the REST
client, the file reader and rich come in when the command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    current_env,
    rest_url_options,
    verbosity,
    verbosity_options,
)
from binmon.endpoints import endpoints


def _notional(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from binmon.leverage import BracketError, parse_notional

    try:
        return parse_notional(value)
    except BracketError as exc:
        raise click.BadParameter(str(exc).removeprefix("--notional "), ctx, param) from None


@click.command(
    "brackets",
    short_help=SHORT_HELP["brackets"],
    epilog="""\b
Examples:
  binmon brackets BTCUSDT
      BTCUSDT's brackets as a table with a ladder picture
  binmon brackets BTCUSDT --notional 250000
      the bracket a 250,000 position falls in, its maximum leverage
      and maintenance margin (notional x ratio - cum)
  binmon brackets btcusdt ethusdt --json
      one JSON line per symbol
  binmon brackets --json | jq -c 'select(.brackets[0].max_leverage >= 100)'
      every symbol, filtered with jq
  binmon brackets ETHUSDT --from contracts.jsonl
      the latest brackets in `binmon contracts --json` output or a recording
  binmon brackets BTCUSDT --rest-url http://127.0.0.1:9443
      against `binmon serve` (export the API key and secret it prints)
""",
)
@click.argument("symbols", nargs=-1, metavar="[SYMBOL]...")
@click.option(
    "--notional",
    metavar="N",
    callback=_notional,
    help="A position size in quote currency: show the bracket it falls in "
    "(floor <= N < cap), its max leverage and maintenance margin.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="JSON lines on stdout, one per symbol (the default whenever stdout is not a terminal).",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Read the latest brackets from a recording (.gz too), `binmon contracts --json` "
    "output or a saved REST answer instead of asking the exchange ('-' reads stdin).",
)
@rest_url_options
@verbosity_options
@click.pass_context
def command(
    ctx: click.Context,
    symbols: tuple[str, ...],
    notional: str | None,
    json_output: bool,
    from_file: str | None,
    rest_url: str | None,
    testnet: bool,
) -> None:
    """Show the leverage brackets of SYMBOL (case-insensitive); no SYMBOL: every symbol.

    Brackets come from the signed REST endpoint /fapi/v1/leverageBracket,
    which needs BINANCE_API_KEY and BINANCE_API_SECRET in the environment (the
    secret is only used to sign and is never shown), or from a file with
    --from. Numbers are shown exactly as the exchange sent them.
    """
    import asyncio

    from binmon import brackets_report
    from binmon.diag import Diagnostics, printable

    env = current_env(ctx)
    diag = Diagnostics(env.stderr, verbosity(ctx))
    wanted = _symbols(symbols)
    if from_file is not None:
        if rest_url is not None or testnet:
            diag.debug("--from given: --rest-url and --testnet are not used")
        name = printable(click.format_filename(from_file))
        stdin = sys.stdin.buffer if from_file == "-" else None
        found = brackets_report.from_file(from_file, name, stdin, diag)
        source = f"in {name}"
    else:
        from binmon.signed_rest import credentials_from_env

        credentials = credentials_from_env()
        base = endpoints(None, rest_url, testnet).rest_url
        found = asyncio.run(brackets_report.from_exchange(base, credentials, wanted, diag))
        source = "from the exchange"
    as_json = json_output or not env.stdout_isatty
    brackets_report.report(
        found, wanted, notional, as_json=as_json, source=source, env=env, diag=diag
    )


def _symbols(symbols: Sequence[str]) -> list[str]:
    wanted: list[str] = []
    for raw in symbols:
        symbol = raw.strip().upper()
        if not symbol:
            raise click.BadParameter("a SYMBOL cannot be empty", param_hint="SYMBOL")
        if symbol not in wanted:
            wanted.append(symbol)
    return wanted
