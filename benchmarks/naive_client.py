"""Baselines with no validation: what "just use aiohttp and orjson" costs.

``python -m benchmarks.naive_client URL COUNT`` connects to the combined
stream ``URL/market/stream?streams=!assetIndex@arr``, and per frame does
``orjson.loads``, then per event ``orjson.dumps`` and one ``write`` to stdout
(flushed once per frame, as binmon does), and stops after COUNT events.

``--stdlib`` does the same with the standard library's ``json`` (the naive
loop most scripts start as). ``--receive-only`` is the ceiling: aiohttp's
receive loop alone, no parsing, no output; it counts ``--events-per-frame``
events per message.

At the end it prints one JSON line on stderr: events, and ``time.monotonic()``
of its first and last event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiohttp
import orjson

STREAM = "!assetIndex@arr"


async def _run(
    url: str, count: int, receive_only: bool, events_per_frame: int, stdlib: bool = False
) -> dict[str, float]:
    out = sys.stdout.buffer
    write, flush = out.write, out.flush
    loads, dumps = orjson.loads, orjson.dumps
    if stdlib:
        loads = json.loads

        def dumps(obj: object) -> bytes:
            return json.dumps(obj, separators=(",", ":")).encode()

    events = 0
    first = last = 0.0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/market/stream?streams={STREAM}", max_msg_size=0) as ws,
    ):
        while events < count:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"connection ended after {events} events: {msg.type.name}")
            if not first:
                first = time.monotonic()
            if receive_only:
                events += events_per_frame
                continue
            for event in loads(msg.data)["data"]:
                write(dumps(event) + b"\n")
                events += 1
            flush()
        last = time.monotonic()
    return {"events": events, "first_event": first, "last_event": last}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base WebSocket URL, e.g. ws://127.0.0.1:9443")
    parser.add_argument("count", type=int, help="stop after this many events")
    parser.add_argument("--receive-only", action="store_true")
    parser.add_argument("--events-per-frame", type=int, default=20)
    parser.add_argument("--stdlib", action="store_true", help="json instead of orjson")
    args = parser.parse_args(argv)
    result = asyncio.run(
        _run(args.url, args.count, args.receive_only, args.events_per_frame, args.stdlib)
    )
    print(json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main()
