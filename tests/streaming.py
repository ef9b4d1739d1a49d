"""One stream connection + feed against a local server, observed in-process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from binmon.connection import Backoff, Backpressure, Connection, ConnectionSettings
from binmon.consumer import Consumer
from binmon.diag import Diagnostics
from binmon.feed import Feed
from binmon.protocol import AssetIndex, ContractInfo, combined_url
from binmon.state import Change
from binmon.status import StreamStatus
from tests.exchange import FakeExchange


class Events(Consumer):
    """A consumer that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[AssetIndex] = []
        self.contracts: list[ContractInfo] = []

    def assets(self, events: list[AssetIndex], raw: list[bytes] | None) -> None:
        self.events.extend(events)

    def contract(self, event: ContractInfo, changes: list[Change], raw: bytes | None) -> None:
        self.contracts.append(event)


@dataclass
class Harness:
    sink: Any
    status: StreamStatus
    stderr: io.StringIO
    task: asyncio.Task[None]
    feed: Feed


@contextlib.asynccontextmanager
async def streaming(
    url: str,
    *,
    periodic: bool = True,
    fallback_url: str | None = None,
    sink: Consumer | None = None,
    backpressure: Backpressure | None = None,
    backoff: Backoff | None = None,
    **settings: float,
) -> AsyncIterator[Harness]:
    sink = sink if sink is not None else Events()
    stderr = io.StringIO()
    diag = Diagnostics(stderr)
    status = StreamStatus("asset index" if periodic else "contract info")
    feed = Feed(sink, diag)
    async with aiohttp.ClientSession() as session:
        connection = Connection(
            url,
            session,
            lambda data: feed.message(data, status),
            status,
            diag,
            periodic=periodic,
            settings=ConnectionSettings(**settings),  # type: ignore[arg-type]
            backoff=backoff or Backoff(base=0.02, cap=0.1),
            fallback_url=fallback_url,
            backpressure=backpressure,
        )
        task = asyncio.create_task(connection.run())
        try:
            yield Harness(sink, status, stderr, task, feed)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def url(exchange: FakeExchange, *streams: str) -> str:
    return combined_url(exchange.ws_url, list(streams or ["!assetIndex@arr"]))


def times(sink: Events) -> list[int]:
    return [e.event_time for e in sink.events if e.symbol == "ADAUSD"]


def read_all(fd: int) -> bytes:
    """Everything a pipe's read end gives until EOF."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)
