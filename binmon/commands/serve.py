"""``binmon serve``: a local Binance-compatible server."""

from __future__ import annotations

from typing import Any

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import verbosity, verbosity_options

_EPILOG = """\b
Examples:
  binmon serve                                  generated scenario on 127.0.0.1:9443
  binmon serve --port 0 --rate 20               a free port, 20 asset index frames/s
  binmon serve --from day.jsonl.gz --speed 60   replay a recording, one hour per minute
  binmon serve --drop-every 100                 drop every connection after 100 frames
  binmon serve --garbage-every 5 --seed 7       a malformed frame after every 5 good ones
  binmon serve --refuse-status 451              behave like a restricted location
  binmon serve --chaos 3 --log sent.jsonl       random faults ~3 s into each connection,
                                                and a log of every data frame sent

\b
Then, in another terminal:
  export BINMON_WS_URL=ws://127.0.0.1:9443 BINMON_REST_URL=http://127.0.0.1:9443
  binmon watch
  BINANCE_API_KEY=<API key> BINANCE_API_SECRET=<API secret> binmon brackets BTCUSDT

\b
Paths: /market/ws/<stream> and /market/stream?streams=a/b (routed, as on
the exchange since 2026); the legacy /ws and /stream paths acknowledge
SUBSCRIBE and then send nothing, like the real ones.
"""


@click.command(
    "serve",
    short_help=SHORT_HELP["serve"],
    epilog=_EPILOG,
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9443,
    show_default=True,
    help="Port to listen on (0 = any free port).",
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Serve a recording (made by `binmon record`, .gz allowed) instead of the scenario.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01, max=1000),
    default=1.0,
    show_default=True,
    metavar="HZ",
    help="Asset index frames per second; contract events speed up with it.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.001),
    default=None,
    metavar="X",
    help="With --from: replay speed (2 = twice as fast as recorded) [default: --rate].",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the generated scenario."
)
@click.option(
    "--ping-interval",
    type=click.FloatRange(min=0.01),
    default=180.0,
    show_default=True,
    metavar="SECONDS",
    help="Send a ping with a payload this often (the exchange: every 3 minutes).",
)
@click.option(
    "--max-connection-age",
    type=click.FloatRange(min=0.1),
    default=24 * 3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Close connections after this long (the exchange: 24 h).",
)
@click.option(
    "--clock-offset-ms",
    type=int,
    default=0,
    show_default=True,
    metavar="MS",
    help="Skew the server clock (to test clients' timestamp/recvWindow handling).",
)
@click.option(
    "--drop-every",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fault: abort each connection's TCP stream after N data frames.",
)
@click.option(
    "--close-code",
    type=click.IntRange(1000, 4999),
    metavar="CODE",
    help="Fault: with --drop-every, send a close frame with CODE instead of aborting.",
)
@click.option(
    "--silent-after",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fault: after N data frames send nothing more (pings still answered).",
)
@click.option(
    "--garbage-every",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fault: send a malformed frame after every N good ones.",
)
@click.option(
    "--refuse-status",
    type=click.IntRange(300, 599),
    metavar="CODE",
    help="Fault: refuse WebSocket upgrades with this HTTP status (e.g. 451, 403, 503).",
)
@click.option(
    "--chaos",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Fault: after a random time (mean SECONDS) each connection is dropped without a "
    "close frame, closed with 1000/1001/1011, or goes silent (the same faults again with "
    "the same --seed).",
)
@click.option(
    "--log",
    "sent_log",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Append one JSON line per data frame written to a client (connection id, stream, "
    "the (symbol, event time) keys it carried) and per connection open, fault and close; "
    "to check a client against.",
)
@verbosity_options
def command(
    host: str,
    port: int,
    from_file: str | None,
    rate: float,
    speed: float | None,
    seed: int,
    ping_interval: float,
    max_connection_age: float,
    clock_offset_ms: int,
    drop_every: int | None,
    close_code: int | None,
    silent_after: int | None,
    garbage_every: int | None,
    refuse_status: int | None,
    chaos: float | None,
    sent_log: str | None,
) -> None:
    """Run a local stand-in for the exchange: streams, control messages, pings, REST.

    Without --from it serves a generated scenario: the asset index every
    second for about twenty assets, and contract events (listings, go-lives,
    delistings, quarterly rolls, bracket changes) every few seconds across a
    universe of about 650 symbols. The signed leverageBracket endpoint
    accepts the demo key and secret printed at start.
    """
    if close_code is not None and drop_every is None:
        raise click.UsageError("--close-code needs --drop-every")
    if speed is not None and from_file is None:
        raise click.UsageError("--speed only applies with --from")
    from binmon.server import ServerConfig
    from binmon.server.faults import Faults

    level = verbosity()
    config = ServerConfig(
        rate=rate,
        seed=seed,
        from_file=from_file,
        speed=speed if speed is not None else rate,
        ping_interval=ping_interval,
        max_connection_age=max_connection_age,
        clock_offset_ms=clock_offset_ms,
        faults=Faults(
            drop_every=drop_every,
            close_code=close_code,
            silent_after=silent_after,
            garbage_every=garbage_every,
            refuse_status=refuse_status,
            chaos=chaos,
        ),
        log=_stderr_logger() if level >= 0 else None,
        sent_log=sent_log,
    )
    _run(config, host, port, quiet=level < 0)


def _stderr_logger() -> Any:
    import time

    from binmon.diag import printable

    def log(line: str) -> None:
        # Peer addresses and stream names come from the network: keep them printable.
        click.echo(f"{time.strftime('%H:%M:%S')} {printable(line)}", err=True)

    return log


def _run(config: Any, host: str, port: int, *, quiet: bool) -> None:
    import asyncio
    import contextlib
    import signal

    from binmon.errors import BinmonError
    from binmon.server import start_server

    async def serve() -> None:
        try:
            runner, actual = await start_server(config, host, port)
        except OSError as exc:
            raise BinmonError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGTERM (service managers, `kill`) stops as cleanly as Ctrl-C.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            _banner(config, host, actual)
            if not quiet:
                click.echo("Press Ctrl-C to stop.", err=True)
            await stop.wait()
        finally:
            await runner.cleanup()
            if not quiet:
                click.echo("binmon serve: stopped", err=True)

    asyncio.run(serve())


def _banner(config: Any, host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::", ""):
        shown = "127.0.0.1"
    ws = f"ws://{shown}:{port}"
    http = f"http://{shown}:{port}"
    if config.from_file is not None:
        source = f"replaying {config.from_file} at {config.speed:g}x"
    else:
        source = f"generated scenario, seed {config.seed}, {config.rate:g} Hz"
    lines = [
        f"binmon serve: listening on {host}:{port} ({source})",
        f"WebSocket: {ws}/market/stream?streams=!assetIndex@arr/!contractInfo",
        f"REST: {http}/fapi/v1/exchangeInfo",
        f"API key: {config.api_key}",
        f"API secret: {config.api_secret}",
        f"Try: binmon watch --ws-url {ws} --rest-url {http}",
    ]
    lines += [f"Fault: {line}" for line in config.faults.describe()]
    if config.sent_log is not None:
        lines.append(f"Log of frames sent: {config.sent_log}")
    for line in lines:
        click.echo(line)
