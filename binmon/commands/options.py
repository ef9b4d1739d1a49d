"""Option decorators shared by the commands, and the settings they build."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from binmon.defaults import (
    ACCOUNT_EVERY,
    ALERT_AFTER,
    EXEC_TIMEOUT,
    MAX_CONNECTION_AGE,
    STALE_AFTER,
)

if TYPE_CHECKING:
    from binmon.endpoints import Listen
    from binmon.env import Environment

F = TypeVar("F", bound=Callable[..., Any])

_VERBOSITY_KEY = "binmon.verbosity"


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value:
        root = ctx.find_root()
        current = root.meta.get(_VERBOSITY_KEY, 0)
        root.meta[_VERBOSITY_KEY] = current + (value if param.name == "verbose" else -value)
    return value


def verbosity_options(f: F) -> F:
    """``-v/-q``, accepted before the command and after it."""
    f = click.option(
        "-q",
        "--quiet",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="Only errors on stderr.",
    )(f)
    f = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="More on stderr (-v shows skipped frames).",
    )(f)
    return f


def verbosity(ctx: click.Context | None = None) -> int:
    ctx = ctx or click.get_current_context()
    return max(-1, min(1, int(ctx.find_root().meta.get(_VERBOSITY_KEY, 0))))


def current_env(ctx: click.Context | None = None) -> Environment:
    """The injected :class:`Environment` (``obj`` of the root context), else the real one."""
    from binmon.env import Environment

    obj = (ctx or click.get_current_context()).find_root().obj
    return obj if isinstance(obj, Environment) else Environment()


def rest_url_options(f: F) -> F:
    f = click.option(
        "--testnet",
        is_flag=True,
        help="Use Binance's futures testnet URLs instead of the defaults.",
    )(f)
    f = click.option(
        "--rest-url",
        envvar="BINMON_REST_URL",
        metavar="URL",
        help="Base REST URL [env BINMON_REST_URL; default https://fapi.binance.com].",
    )(f)
    return f


def connection_options(f: F) -> F:
    """Where to connect and how to keep the connection healthy."""
    f = click.option(
        "--max-connection-age",
        type=click.FloatRange(min=1),
        default=MAX_CONNECTION_AGE,
        show_default=True,
        metavar="SECONDS",
        help="Open a replacement connection after this long (Binance closes at 24 h).",
    )(f)
    f = click.option(
        "--stale-after",
        type=click.FloatRange(min=0.1),
        default=STALE_AFTER,
        show_default=True,
        metavar="SECONDS",
        help="Reconnect when the asset index stream has been silent this long.",
    )(f)
    f = rest_url_options(f)
    f = click.option(
        "--ws-url",
        envvar="BINMON_WS_URL",
        metavar="URL",
        help="Base WebSocket URL [env BINMON_WS_URL; default wss://fstream.binance.com].",
    )(f)
    return f


def output_options(f: F) -> F:
    f = click.option(
        "--speed",
        type=click.FloatRange(min=0),
        default=None,
        metavar="X",
        help="With --from: replay speed; 0 = as fast as possible (default for JSON), "
        "1 = real time (default for tables).",
    )(f)
    f = click.option(
        "--from",
        "from_file",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Read frames from a recording (made by `binmon record`) instead of the network.",
    )(f)
    f = click.option(
        "--duration",
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        help="Stop after that long, exit 0.",
    )(f)
    f = click.option(
        "-n",
        "--count",
        type=click.IntRange(min=1),
        metavar="N",
        help="Stop after N events, exit 0.",
    )(f)
    f = click.option(
        "--raw",
        is_flag=True,
        help="JSON lines, each event exactly as received (arrays split into one line per event).",
    )(f)
    f = click.option(
        "--json",
        "json_output",
        is_flag=True,
        help="JSON lines on stdout (the default whenever stdout is not a terminal).",
    )(f)
    return f


def symbol_option(f: F) -> F:
    return click.option(
        "-s",
        "--symbol",
        "symbols",
        multiple=True,
        metavar="PATTERN",
        help="Keep symbols matching this shell-style glob (case-insensitive); repeatable.",
    )(f)


def contract_filter_options(f: F) -> F:
    f = click.option(
        "--changes-only",
        is_flag=True,
        help="Contracts: only events whose changes list is not empty.",
    )(f)
    f = click.option(
        "--market",
        type=click.Choice(["um", "cm"], case_sensitive=False),
        help="Contracts: keep only USD-M (st=1) or COIN-M (st=2) contracts.",
    )(f)
    f = click.option(
        "--type",
        "types",
        multiple=True,
        metavar="TYPE",
        help="Contracts: keep this contract type, e.g. PERPETUAL; repeatable.",
    )(f)
    f = click.option(
        "--status",
        "statuses",
        multiple=True,
        metavar="STATUS",
        help="Contracts: keep this status, e.g. TRADING, SETTLING; repeatable.",
    )(f)
    return f


def sort_options(f: F) -> F:
    # Literal choices: importing them from binmon.view would import rich.
    f = click.option(
        "--contract-sort",
        type=click.Choice(["recent", "symbol"]),
        help="Tables: contracts with the latest changes first (default), or by symbol.",
    )(f)
    f = click.option(
        "--sort",
        type=click.Choice(["symbol", "change", "price"]),
        help="Tables: order assets by symbol (default), 5-minute change, or price.",
    )(f)
    return f


# Literal, as binmon.alerts.KINDS (a test holds them equal): importing it here
# would make `--help` pay for the decoder.
ALERT_CHOICES = (
    "listing",
    "delisting",
    "status",
    "brackets",
    "leverage-cut",
    "position",
    "buffer",
    "feed",
    "all",
)


def alert_options(f: F) -> F:
    """``--alert KIND`` and where alerts go."""
    f = click.option(
        "--exec",
        "exec_command",
        metavar="CMD",
        help="Run CMD with `sh -c` for each alert: its JSON line on stdin, "
        "BINMON_ALERT_KIND, BINMON_ALERT_SYMBOL and BINMON_ALERT_MESSAGE in the "
        f"environment; at most 4 at once, each ended after {EXEC_TIMEOUT:g}s.",
    )(f)
    f = click.option(
        "--notify",
        is_flag=True,
        help="A desktop notification per alert (freedesktop notifications over D-Bus).",
    )(f)
    f = click.option(
        "--bell",
        is_flag=True,
        help="Ring the terminal bell on each alert.",
    )(f)
    f = click.option(
        "--alert-after",
        type=click.FloatRange(min=0.1),
        default=ALERT_AFTER,
        show_default=True,
        metavar="SECONDS",
        help="feed alerts: a stream not connected and delivering for this long.",
    )(f)
    f = click.option(
        "--alert",
        "alerts",
        multiple=True,
        type=click.Choice(ALERT_CHOICES, case_sensitive=False),
        metavar="KIND",
        help="Raise an alert on KIND, repeatable: listing, delisting, status, brackets, "
        "leverage-cut, position, buffer, feed, or all. JSON: an alert line after its "
        "event's line; tables: marked in the change log.",
    )(f)
    return f


def _listen(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    if value is None:
        return None
    from binmon.endpoints import parse_listen

    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def metrics_option(f: F) -> F:
    return click.option(
        "--metrics",
        "metrics_listen",
        metavar="HOST:PORT",
        callback=_listen,
        help="Also serve Prometheus metrics (/metrics) and a health check (/healthz) "
        "on HOST:PORT while running, e.g. 127.0.0.1:9477.",
    )(f)


def listen_option(default: str) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        return click.option(
            "--listen",
            "metrics_listen",
            metavar="HOST:PORT",
            default=default,
            show_default=True,
            callback=_listen,
            help="Serve /metrics and /healthz here ([::1]:PORT for IPv6, 0.0.0.0:PORT "
            "for every interface, PORT 0 for any free port).",
        )(f)

    return decorate


def account_options(f: F) -> F:
    """``--account`` and ``--account-every``: holdings and positions from the signed account."""
    f = click.option(
        "--account-every",
        type=click.FloatRange(min=1),
        default=ACCOUNT_EVERY,
        show_default=True,
        metavar="SECONDS",
        help="With --account: read the account again this often.",
    )(f)
    f = click.option(
        "--account",
        is_flag=True,
        help="Holdings and positions from the signed GET /fapi/v3/account "
        "(needs BINANCE_API_KEY and BINANCE_API_SECRET).",
    )(f)
    return f


def hold_option(f: F) -> F:
    return click.option(
        "--hold",
        "holds",
        multiple=True,
        metavar="ASSET=QTY",
        help="A margin balance to value as collateral, e.g. BTC=0.5 or USDT=-1200 "
        "(signed plain decimal); repeatable.",
    )(f)


def position_option(f: F) -> F:
    return click.option(
        "--position",
        "positions",
        multiple=True,
        metavar="SYMBOL=NOTIONAL",
        help="A position size in quote currency, e.g. BTCUSDT=250000: its bracket, max "
        "leverage and maintenance margin; repeatable.",
    )(f)


@dataclass(frozen=True)
class StreamOptions:
    """The flags of the streaming commands, typed; a command without a flag gets its default."""

    ws_url: str | None = None
    rest_url: str | None = None
    testnet: bool = False
    stale_after: float = STALE_AFTER
    max_connection_age: float = MAX_CONNECTION_AGE
    json_output: bool = False
    raw: bool = False
    count: int | None = None
    duration: float | None = None
    from_file: str | None = None
    speed: float | None = None
    symbols: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    market: str | None = None
    changes_only: bool = False
    sort: str | None = None
    contract_sort: str | None = None
    metrics_listen: Listen | None = None
    alerts: tuple[str, ...] = ()
    alert_after: float = ALERT_AFTER
    bell: bool = False
    notify: bool = False
    exec_command: str | None = None
    holds: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()
    account: bool = False
    account_every: float = ACCOUNT_EVERY


_STREAM_FIELDS = frozenset(f.name for f in fields(StreamOptions))


def collect_stream_options(f: F) -> F:
    """Hand the command one ``options: StreamOptions`` instead of a keyword per flag.

    Apply it after the option decorators (above them in the source).
    """

    def command(*args: Any, **kwargs: Any) -> Any:
        picked = {name: kwargs.pop(name) for name in list(kwargs) if name in _STREAM_FIELDS}
        return f(*args, options=StreamOptions(**picked), **kwargs)

    return cast(F, functools.update_wrapper(command, f))


def stream_options(f: F) -> F:
    """Everything the streaming commands share (watch, assets, contracts).

    The command receives them as one ``options: StreamOptions``.
    """
    f = collect_stream_options(f)
    for decorator in (
        alert_options,
        metrics_option,
        sort_options,
        contract_filter_options,
        symbol_option,
        output_options,
        connection_options,
        verbosity_options,
    ):
        f = decorator(f)
    return f
