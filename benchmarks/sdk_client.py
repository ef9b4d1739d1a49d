"""Binance's official SDK as a baseline (``binance-sdk-derivatives-trading-usds-futures``).

``python -m benchmarks.sdk_client URL COUNT`` points the SDK's WebSocket
streams at ``URL`` (``ConfigurationWebSocketStreams(stream_url=URL)``; the SDK
appends ``/stream`` and opens one connection per route, ``/market/stream``,
``/public/stream`` and ``/private/stream``), subscribes with
``websocket_streams.asset_index()`` (``!assetIndex@arr``, sent as a
``SUBSCRIBE`` on the ``/market`` connection), and writes ``to_json()`` of
each event it is handed (the SDK validates every array element into an
``AssetIndexResponse`` pydantic model) as one line to stdout, flushed once
per frame. Stops after COUNT events.

At the end it prints one JSON line on stderr: events, and ``time.monotonic()``
of its first and last event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any


async def _run(url: str, count: int, timeout: float) -> dict[str, float]:
    from binance_common.configuration import ConfigurationWebSocketStreams
    from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
        DerivativesTradingUsdsFutures,
    )

    client = DerivativesTradingUsdsFutures(
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=url)
    )
    out = sys.stdout.buffer
    write, flush = out.write, out.flush
    done = asyncio.Event()
    state: dict[str, Any] = {"events": 0, "first_event": 0.0, "last_event": 0.0}

    def on_message(data: Any) -> None:
        if done.is_set():
            return
        if not state["first_event"]:
            state["first_event"] = time.monotonic()
        events = data if isinstance(data, list) else [data]
        for event in events:
            write(event.to_json().encode() + b"\n")
        flush()
        state["events"] += len(events)
        if state["events"] >= count:
            state["last_event"] = time.monotonic()
            done.set()

    connection = await client.websocket_streams.create_connection()  # type: ignore[no-untyped-call]
    if connection is None:  # the SDK logs the reason and returns None
        raise SystemExit(f"the SDK could not connect to {url}")
    try:
        stream = await connection.asset_index()
        stream.on("message", on_message)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            raise SystemExit(
                f"timed out after {state['events']} of {count} events through the SDK"
            ) from None
    finally:
        await connection.close_connection(close_session=True)
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base WebSocket URL, e.g. ws://127.0.0.1:9443")
    parser.add_argument("count", type=int, help="stop after this many events")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    # The SDK logs every frame it cannot route at INFO and every reconnect at
    # WARNING; only errors matter here.
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(_run(args.url, args.count, args.timeout))
    print(json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main()
