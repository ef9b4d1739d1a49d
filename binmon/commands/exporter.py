"""``binmon exporter``: both streams, headless, as Prometheus metrics and a health check."""

from __future__ import annotations

from dataclasses import replace

import click

from binmon.commands import SHORT_HELP
from binmon.commands.options import (
    StreamOptions,
    account_options,
    alert_options,
    collect_stream_options,
    connection_options,
    contract_filter_options,
    hold_option,
    listen_option,
    position_option,
    symbol_option,
    verbosity_options,
)
from binmon.commands.streaming import run_stream
from binmon.endpoints import LISTEN_HOST, LISTEN_PORT


@click.command(
    "exporter",
    short_help=SHORT_HELP["exporter"],
    epilog="""\b
Examples:
  binmon exporter                             metrics on http://127.0.0.1:9477/metrics
  binmon exporter --listen 0.0.0.0:9477       reachable from other hosts
  curl -s 127.0.0.1:9477/metrics | grep binmon_stream_up
  curl -fsS 127.0.0.1:9477/healthz            ok, or HTTP 503 and the reason
  binmon exporter --ws-url ws://127.0.0.1:9443 --rest-url http://127.0.0.1:9443
  binmon exporter --hold BTC=0.5 --hold USDT=-1200   also binmon_collateral_value{asset}
\b
Alerting rules and a systemd unit: contrib/ in the source tree (README, "Unattended").
""",
)
@listen_option(f"{LISTEN_HOST}:{LISTEN_PORT}")
@alert_options
@contract_filter_options
@symbol_option
@connection_options
@verbosity_options
@hold_option
@position_option
@account_options
@collect_stream_options
def command(options: StreamOptions) -> None:
    """Run both streams with nothing on stdout and serve what they say over HTTP.

    GET /metrics is the Prometheus text format (asset index values, contract
    status, listing and delivery times, bracket 1's max leverage, counts of
    changes, stream health); GET /healthz answers 200 `ok` when both streams
    are connected and delivering, else 503 with the reason. Reconnects,
    rotation and staleness work as in `watch`; SIGTERM ends it with exit 0.
    """
    from binmon.runner import ASSETS, CONTRACTS

    run_stream((ASSETS, CONTRACTS), replace(options, json_output=True), headless=True)
