"""What the streaming commands (watch, assets, contracts, record) share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from binmon.commands.options import StreamOptions, current_env, verbosity

if TYPE_CHECKING:
    from binmon.diag import Diagnostics
    from binmon.endpoints import Endpoints
    from binmon.env import Environment
    from binmon.run_config import RunConfig


def run_stream(kinds: tuple[str, ...], options: StreamOptions, **extra: Any) -> None:
    """Build the run from parsed options and stream until a stop condition."""
    from binmon.runner import run

    run(*build_run(kinds, options, **extra))


def build_run(
    kinds: tuple[str, ...],
    options: StreamOptions,
    *,
    endpoints: Endpoints | None = None,
    **extra: Any,
) -> tuple[RunConfig, Environment, Diagnostics]:
    """The typed run configuration of a command; ``extra`` sets RunConfig fields no flag sets."""
    from binmon.connection import ConnectionSettings
    from binmon.diag import Diagnostics
    from binmon.endpoints import endpoints as checked_endpoints
    from binmon.filters import Filters
    from binmon.run_config import RunConfig

    env = current_env()
    config = RunConfig(
        kinds=kinds,
        endpoints=endpoints or checked_endpoints(options.ws_url, options.rest_url, options.testnet),
        filters=Filters.build(
            symbols=options.symbols,
            statuses=options.statuses,
            types=options.types,
            market=options.market,
            changes_only=options.changes_only,
        ),
        json=options.json_output or options.raw or not env.stdout_isatty,
        raw=options.raw,
        count=options.count,
        duration=options.duration,
        from_file=options.from_file,
        speed=options.speed,
        sort=options.sort,
        contract_sort=options.contract_sort,
        metrics_listen=options.metrics_listen,
        alerts=_alert_kinds(options),
        alert_after=options.alert_after,
        bell=options.bell,
        notify=options.notify,
        exec_command=options.exec_command,
        settings=ConnectionSettings(
            stale_after=options.stale_after, max_age=options.max_connection_age
        ),
        **{**account_settings(options), **extra},
    )
    if options.speed is not None and options.from_file is None:
        raise click.UsageError("--speed goes with --from")
    return config, env, Diagnostics(env.stderr, verbosity())


def _alert_kinds(options: StreamOptions) -> frozenset[str]:
    from binmon.alerts import ALL, parse_kinds

    kinds = parse_kinds(options.alerts)
    if not kinds and (options.exec_command is not None or options.notify or options.bell):
        # Where alerts should go was said, which ones was not: every kind.
        kinds = parse_kinds([ALL])
    return kinds


def account_settings(options: StreamOptions) -> dict[str, Any]:
    """RunConfig fields of --hold, --position and --account.

    Bad use is exit 2, found before any request is made.
    """
    import os

    from binmon.collateral import HoldingError, parse_holds
    from binmon.positions import PositionError, parse_positions
    from binmon.signed_rest import KEY_ENV, SECRET_ENV, Credentials

    try:
        holdings = parse_holds(options.holds)
    except HoldingError as exc:
        raise click.UsageError(f"--hold: {exc}") from None
    try:
        positions = parse_positions(options.positions)
    except PositionError as exc:
        raise click.UsageError(f"--position: {exc}") from None
    if holdings and options.account:
        raise click.UsageError(
            "--hold and --account cannot be used together: the account's balances are the holdings"
        )
    key, secret = (os.environ.get(name, "").strip() for name in (KEY_ENV, SECRET_ENV))
    if options.account and not (key and secret):
        missing = [n for n, v in ((KEY_ENV, key), (SECRET_ENV, secret)) if not v]
        raise click.UsageError(
            f"--account reads the signed account, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: set {KEY_ENV} and {SECRET_ENV} "
            f"to an API key and secret that may read USD-M futures account data, or give "
            f"--hold / --position instead"
        )
    return {
        "holdings": holdings,
        "positions": positions,
        "account": options.account,
        "account_every": options.account_every,
        "credentials": Credentials(key, secret) if key and secret else None,
    }
