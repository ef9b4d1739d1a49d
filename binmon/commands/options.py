"""Option decorators shared by the commands, and the settings they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
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
        default=23 * 3600,
        show_default=True,
        metavar="SECONDS",
        help="Open a replacement connection after this long (Binance closes at 24 h).",
    )(f)
    f = click.option(
        "--stale-after",
        type=click.FloatRange(min=0.1),
        default=10.0,
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


def _listen(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    if value is None:
        return None
    # Lazy: the parser lives beside the server, which imports aiohttp.web.
    from binmon.metrics_server import parse_listen

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


def stream_options(f: F) -> F:
    """Everything the streaming commands share (watch, assets, contracts)."""
    for decorator in (
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


@dataclass(frozen=True)
class Endpoints:
    ws_url: str
    rest_url: str
    # Only the testnet may still need the legacy paths (BINANCE.md).
    legacy_fallback: bool = False


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used, or None."""
    import yarl

    if any(c.isspace() for c in url):
        return "it contains white space"
    try:
        parsed = yarl.URL(url)
        host, port = parsed.host, parsed.port
    except (ValueError, TypeError) as exc:
        return str(exc) or "cannot be parsed"
    if not host:
        return "it has no host"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range"
    return None


def endpoints(ws_url: str | None, rest_url: str | None, testnet: bool) -> Endpoints:
    from binmon import protocol
    from binmon.errors import FatalConnectionError

    for name, url, schemes in (
        ("--ws-url", ws_url, ("ws://", "wss://")),
        ("--rest-url", rest_url, ("http://", "https://")),
    ):
        if url is None:
            continue
        if not url.lower().startswith(schemes):
            raise FatalConnectionError(
                f"invalid {name} {url!r}: it must start with {' or '.join(schemes)}"
            )
        problem = url_problem(url)
        if problem:
            raise FatalConnectionError(f"invalid {name} {url!r}: {problem}")
    return Endpoints(
        ws_url=ws_url or (protocol.TESTNET_WS_URL if testnet else protocol.DEFAULT_WS_URL),
        rest_url=rest_url or (protocol.TESTNET_REST_URL if testnet else protocol.DEFAULT_REST_URL),
        legacy_fallback=testnet and ws_url is None,
    )
