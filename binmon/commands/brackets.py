"""``binmon brackets``: one-off leverage bracket inspection.

Only click is imported at module level (``binmon --help`` stays fast); the
REST client, the file reader and rich come in when the command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO, TextIO

import click

from binmon.commands.options import (
    current_env,
    rest_url_options,
    verbosity,
    verbosity_options,
)
from binmon.endpoints import endpoints

if TYPE_CHECKING:
    from rich.console import Console

    from binmon.diag import Diagnostics
    from binmon.env import Environment
    from binmon.leverage import NotionalOutOfRange, Position
    from binmon.protocol import Bracket

# Errors name at most this many symbols, then "and N more".
_NAMED: int = 5


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
    short_help="Leverage brackets of symbols (signed REST, or --from FILE).",
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
    from binmon.diag import Diagnostics

    env = current_env(ctx)
    diag = Diagnostics(env.stderr, verbosity(ctx))
    wanted = _symbols(symbols)
    if from_file is not None:
        if rest_url is not None or testnet:
            diag.debug("--from given: --rest-url and --testnet are not used")
        from binmon.diag import printable

        found = _from_file(from_file, diag)
        source = f"in {printable(click.format_filename(from_file))}"
    else:
        found = _from_exchange(wanted, rest_url, testnet, diag)
        source = "from the exchange"
    _show(found, wanted, notional, json_output or not env.stdout_isatty, source, env, diag)


def _symbols(symbols: Sequence[str]) -> list[str]:
    wanted: list[str] = []
    for raw in symbols:
        symbol = raw.strip().upper()
        if not symbol:
            raise click.BadParameter("a SYMBOL cannot be empty", param_hint="SYMBOL")
        if symbol not in wanted:
            wanted.append(symbol)
    return wanted


def _from_file(path: str, diag: Diagnostics) -> dict[str, tuple[Bracket, ...]]:
    from binmon.diag import printable
    from binmon.errors import BinmonError
    from binmon.leverage import read_brackets_file

    def malformed(line: int, problem: str) -> None:
        diag.warn(f"line {line} skipped: {printable(problem)}", key="brackets-malformed")

    name = printable(click.format_filename(path))
    try:
        result = read_brackets_file(
            path, stdin=sys.stdin.buffer if path == "-" else None, on_malformed=malformed
        )
    except (OSError, EOFError) as exc:
        # gzip raises EOFError for a truncated file, OSError for a bad one.
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise BinmonError(f"cannot read {name}: {printable(reason)}") from None
    if result.malformed:
        diag.debug(f"{result.malformed} unreadable line(s) in {name}")
    if not result.found:
        why = f" ({result.malformed} unreadable line(s))" if result.malformed else ""
        raise BinmonError(f"no leverage brackets found in {name}{why}")
    return result.found


def _from_exchange(
    wanted: list[str], rest_url: str | None, testnet: bool, diag: Diagnostics
) -> dict[str, tuple[Bracket, ...]]:
    import asyncio

    from binmon.signed_rest import SignedClient, credentials_from_env

    credentials = credentials_from_env()
    base = endpoints(None, rest_url, testnet).rest_url

    async def fetch() -> dict[str, tuple[Bracket, ...]]:
        async with SignedClient(base, credentials, diag=diag) as client:
            # One symbol: ask for just it. Several: one request for all is
            # a single unit of weight instead of one per symbol.
            items = await client.leverage_brackets(wanted[0] if len(wanted) == 1 else None)
        return {item.symbol: item.brackets for item in items}

    return asyncio.run(fetch())


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown if len(items) <= _NAMED else f"{shown} and {len(items) - _NAMED} more"


def _show(
    found: dict[str, tuple[Bracket, ...]],
    wanted: list[str],
    notional: str | None,
    as_json: bool,
    source: str,
    env: Environment,
    diag: Diagnostics,
) -> None:
    from binmon.diag import printable
    from binmon.errors import BinmonError
    from binmon.leverage import BracketError, NotionalOutOfRange, check_ladder, position

    missing = [s for s in wanted if s not in found]
    symbols = [s for s in wanted if s in found] if wanted else sorted(found)
    too_big: list[tuple[str, NotionalOutOfRange]] = []
    failures: list[str] = []
    out = _Output(env, as_json)
    try:
        for symbol in symbols:
            brackets = found[symbol]
            problems = check_ladder(brackets)
            if problems:
                diag.warn(f"{printable(symbol)}: brackets look inconsistent: {problems[0]}")
            pos: Position | None = None
            problem: NotionalOutOfRange | None = None
            if notional is not None:
                try:
                    pos = position(brackets, notional)
                except NotionalOutOfRange as exc:
                    problem = exc
                    too_big.append((symbol, exc))
                except BracketError as exc:
                    failures.append(f"{printable(symbol)}: {exc}")
                    continue
            out.write(symbol, brackets, notional, pos, problem)
    finally:
        out.close()

    errors: list[str] = []
    if missing:
        errors.append(f"no brackets for {_named([printable(s) for s in missing])} {source}")
    if len(too_big) == 1:
        only, limit = too_big[0]
        errors.append(f"{printable(only)}: {limit}; no bracket holds this position")
    elif too_big:
        named = [f"{printable(s)} (cap {e.limit})" for s, e in too_big]
        errors.append(
            f"notional {notional} is at or above the last bracket's cap of "
            f"{len(too_big)} symbols: {_named(named)}"
        )
    errors += failures
    if errors:
        raise BinmonError("; ".join(errors))


class _Output:
    """JSON lines or rich tables on stdout, flushed per symbol."""

    def __init__(self, env: Environment, as_json: bool) -> None:
        self._stdout: BinaryIO = env.stdout
        self._as_json = as_json
        self._console = None if as_json else _console(env)

    def write(
        self,
        symbol: str,
        brackets: tuple[Bracket, ...],
        notional: str | None,
        pos: Position | None,
        problem: NotionalOutOfRange | None,
    ) -> None:
        if self._as_json:
            if notional is not None and pos is None:
                return  # a line without the asked-for answer would mislead a script
            self._stdout.write(brackets_line(symbol, brackets, pos))
            self._stdout.flush()
            return
        from binmon.brackets_view import render_symbol

        assert self._console is not None
        self._console.print(
            render_symbol(symbol, brackets, position=pos, notional=notional, problem=problem)
        )

    def close(self) -> None:
        if self._console is not None:
            self._console.file.flush()
            if self._console.file is not sys.stdout:
                # Our wrapper around env.stdout must not close it when collected.
                self._console.file.detach()  # type: ignore[attr-defined]


def _console(env: Environment) -> Console:
    import io

    from rich.console import Console

    file: TextIO
    if env.stdout is getattr(sys.stdout, "buffer", None):
        file = sys.stdout
    else:
        file = io.TextIOWrapper(env.stdout, encoding="utf-8", errors="replace", write_through=True)
    return Console(
        file=file,
        width=env.width,
        height=env.height,
        no_color=env.no_color or None,
        highlight=False,
        emoji=False,
    )


def brackets_line(symbol: str, brackets: Sequence[Bracket], pos: Position | None = None) -> bytes:
    """One ``{"type":"brackets",...}`` JSON line, numbers written verbatim (SPEC)."""
    import msgspec

    from binmon.jsonl import bracket_json, encode_line

    line: dict[str, object] = {
        "type": "brackets",
        "symbol": symbol,
        "brackets": [bracket_json(b) for b in brackets],
    }
    if pos is not None:
        leverage = pos.bracket.max_leverage
        line["notional"] = msgspec.Raw(pos.notional.encode())
        line["bracket"] = pos.bracket.bracket
        line["maintenance_margin"] = msgspec.Raw(pos.maintenance_margin_text.encode())
        line["max_leverage"] = None if leverage is None else msgspec.Raw(leverage.encode())
    return encode_line(line)
