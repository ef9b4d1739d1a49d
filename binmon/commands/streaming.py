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
        **extra,
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
