"""``binmon brackets`` without the command line: where brackets come from, and the report.

Brackets come from a file (a recording, ``contracts --json`` output, a saved
REST answer) or from the signed REST endpoint; the report writes, per
symbol, one JSON line or a table with its ladder picture (the position a
``--notional`` falls in included), and ends with one error naming every
symbol it could not answer for. The click layer (binmon.commands.brackets)
only parses arguments and picks the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from binmon.diag import Diagnostics, printable
from binmon.env import Environment
from binmon.errors import BinmonError
from binmon.leverage import (
    BracketError,
    NotionalOutOfRange,
    Position,
    check_ladder,
    position,
    read_brackets_file,
)
from binmon.protocol import Bracket

if TYPE_CHECKING:
    from rich.console import Console

    from binmon.signed_rest import Credentials

Found = dict[str, tuple[Bracket, ...]]

# Errors name at most this many symbols, then "and N more".
_NAMED = 5


def from_file(path: str, name: str, stdin: IO[bytes] | None, diag: Diagnostics) -> Found:
    """The latest brackets of every symbol in ``path`` (``name``: how to call it in messages)."""

    def malformed(line: int, problem: str) -> None:
        diag.warn(f"line {line} skipped: {printable(problem)}", key="brackets-malformed")

    try:
        result = read_brackets_file(path, stdin=stdin, on_malformed=malformed)
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


async def from_exchange(
    base_url: str, credentials: Credentials, wanted: Sequence[str], diag: Diagnostics
) -> Found:
    """The brackets of ``wanted`` (every symbol when empty), asked of the exchange."""
    from binmon.signed_rest import SignedClient

    async with SignedClient(base_url, credentials, diag=diag) as client:
        # One symbol: ask for just it. Several: one request for all is a
        # single unit of weight instead of one per symbol.
        items = await client.leverage_brackets(wanted[0] if len(wanted) == 1 else None)
    return {item.symbol: item.brackets for item in items}


def report(
    found: Found,
    wanted: Sequence[str],
    notional: str | None,
    *,
    as_json: bool,
    source: str,
    env: Environment,
    diag: Diagnostics,
) -> None:
    """Write each wanted symbol's brackets (every symbol found when none is wanted).

    What could not be answered (a symbol not found ``source``, a notional
    past the last cap) is raised at the end as one :class:`BinmonError`,
    after everything that could be answered has been written.
    """
    missing = [s for s in wanted if s not in found]
    symbols = [s for s in wanted if s in found] if wanted else sorted(found)
    too_big: list[tuple[str, NotionalOutOfRange]] = []
    failures: list[str] = []
    out = _Output(env, as_json)
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


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMED])
    return shown if len(items) <= _NAMED else f"{shown} and {len(items) - _NAMED} more"


class _Output:
    """JSON lines or rich tables on stdout, each symbol written (and flushed) whole."""

    def __init__(self, env: Environment, as_json: bool) -> None:
        self._stdout = env.stdout
        self._console: Console | None = None if as_json else env.console()

    def write(
        self,
        symbol: str,
        brackets: tuple[Bracket, ...],
        notional: str | None,
        pos: Position | None,
        problem: NotionalOutOfRange | None,
    ) -> None:
        if self._console is None:
            if notional is not None and pos is None:
                return  # a line without the asked-for answer would mislead a script
            self._stdout.write(brackets_line(symbol, brackets, pos))
            self._stdout.flush()
            return
        from binmon.brackets_view import render_symbol

        self._console.print(
            render_symbol(symbol, brackets, position=pos, notional=notional, problem=problem)
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
