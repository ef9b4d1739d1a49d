"""What the streaming commands (watch, assets, contracts, record) share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from binmon.commands.options import current_env, endpoints, verbosity

if TYPE_CHECKING:
    from binmon.diag import Diagnostics
    from binmon.env import Environment
    from binmon.runner import RunConfig


def run_stream(kinds: tuple[str, ...], opts: dict[str, Any], **extra: Any) -> None:
    """Build the run from parsed options and stream until a stop condition."""
    from binmon.runner import run

    run(*build_run(kinds, opts, **extra))


def build_run(
    kinds: tuple[str, ...], opts: dict[str, Any], **extra: Any
) -> tuple[RunConfig, Environment, Diagnostics]:
    from binmon.connection import ConnectionSettings
    from binmon.diag import Diagnostics
    from binmon.filters import Filters
    from binmon.runner import RunConfig

    env = current_env()
    json_output = bool(opts.get("json_output")) or bool(opts.get("raw")) or not env.stdout_isatty
    config = RunConfig(
        kinds=kinds,
        endpoints=opts.get("endpoints")
        or endpoints(opts.get("ws_url"), opts.get("rest_url"), bool(opts.get("testnet"))),
        filters=Filters.build(
            symbols=opts.get("symbols", ()),
            statuses=opts.get("statuses", ()),
            types=opts.get("types", ()),
            market=opts.get("market"),
            changes_only=bool(opts.get("changes_only")),
        ),
        json=json_output,
        raw=bool(opts.get("raw")),
        count=opts.get("count"),
        duration=opts.get("duration"),
        from_file=opts.get("from_file"),
        speed=opts.get("speed"),
        sort=opts.get("sort"),
        contract_sort=opts.get("contract_sort"),
        metrics_listen=opts.get("metrics_listen"),
        settings=ConnectionSettings(
            stale_after=opts.get("stale_after", 10.0),
            max_age=opts.get("max_connection_age", 23 * 3600.0),
        ),
        **extra,
    )
    if config.speed is not None and config.from_file is None:
        raise click.UsageError("--speed goes with --from")
    return config, env, Diagnostics(env.stderr, verbosity())
