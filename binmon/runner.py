"""Wires a streaming command together: source (network or recording) → feed → sink.

Owns the event loop's tasks: connections, REST seeding, replay, the live
view, and the stop conditions (``--count``, ``--duration``, end of file,
a fatal error).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from binmon.commands.options import Endpoints
from binmon.connection import Backoff, Connection, ConnectionSettings
from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.feed import Feed
from binmon.filters import Filters
from binmon.metrics import Metrics, contract_wanted
from binmon.output import DEFAULT_LIMIT, Output
from binmon.protocol import (
    ASSET_INDEX_ALL,
    CONTRACT_INFO,
    asset_index_stream,
    combined_url,
    is_asset_index_stream,
)
from binmon.recording import (
    SNAPSHOT_STREAM,
    Recorder,
    contracts_from_snapshot,
    decode_line,
    read_lines,
    snapshot_payload,
)
from binmon.sinks import JsonLinesSink, NullSink, Sink
from binmon.state import ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus

if TYPE_CHECKING:
    from binmon.metrics_server import Listen, MetricsServer

ASSETS, CONTRACTS = "asset index", "contract info"


@dataclass
class RunConfig:
    kinds: tuple[str, ...]  # subset of (ASSETS, CONTRACTS)
    endpoints: Endpoints
    assets: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    json: bool = True
    raw: bool = False
    count: int | None = None
    duration: float | None = None
    from_file: str | None = None
    speed: float | None = None
    record_path: str | None = None
    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    backoff: Callable[[], Backoff] = Backoff
    demo: bool = False
    seed_wait: float = 5.0
    # Bytes of JSON lines held for a reader that has paused (binmon.output).
    output_limit: int = DEFAULT_LIMIT
    # Interrupted (SIGTERM, Ctrl-C, a failure): how long a reader that does
    # not read may hold up the exit. A normal end waits for it.
    exit_grace: float = 2.0
    # Table order (tables only); the values are binmon.view's ASSET_SORTS / CONTRACT_SORTS.
    sort: str | None = None
    contract_sort: str | None = None
    # Serve Prometheus metrics and a health check here (binmon.metrics_server).
    metrics_listen: Listen | None = None
    # Nothing on stdout (the exporter): events only feed the metrics.
    headless: bool = False


class LiveSink(Sink, Protocol):
    """A sink that owns the terminal while it runs (the tables)."""

    def seed_assets(self, events: list[Any]) -> None: ...

    def seeded(self) -> None:
        """The contract snapshot has arrived (``runner.book`` is full)."""

    async def run(self, stop: asyncio.Event) -> None: ...


def asset_streams(assets: tuple[str, ...]) -> list[str]:
    return [asset_index_stream(a) for a in assets] if assets else [ASSET_INDEX_ALL]


class Runner:
    def __init__(self, config: RunConfig, env: Environment, diag: Diagnostics) -> None:
        self.config = config
        self.env = env
        self.diag = diag
        self.book = ContractBook()
        self.statuses = {kind: StreamStatus(kind) for kind in config.kinds}
        self.stop = asyncio.Event()
        self.view: LiveSink | None = None
        self.output: Output | None = None
        self.interrupted = False
        self.recorder = Recorder(config.record_path) if config.record_path else None
        self.sink = self._make_sink()
        self.metrics: Metrics | None = None
        self.metrics_server: MetricsServer | None = None
        feed_sink: Sink = self.sink
        if config.metrics_listen is not None:
            self.metrics = Metrics(
                self.statuses,
                self.book,
                stale_after=config.settings.stale_after,
                wanted=contract_wanted(config.filters) if config.filters != Filters() else None,
            )
            feed_sink = _Both(self.sink, self.metrics)
        self.feed = Feed(
            feed_sink,
            diag,
            filters=config.filters,
            book=self.book,
            count=config.count,
            raw=config.raw,
            dedupe=config.from_file is None,
            recorder=self.recorder,
            on_done=self.stop.set,
        )

    def _make_sink(self) -> Sink:
        if self.recorder is not None or self.config.headless:
            return NullSink()
        if self.config.json or self.config.raw:
            self.output = Output(self.env.stdout, limit=self.config.output_limit)
            return JsonLinesSink(self.output, raw=self.config.raw)
        from binmon.view import make_live_view  # rich is only paid for here

        self.view = make_live_view(self)
        return self.view

    # -- running ------------------------------------------------------------

    async def run(self) -> None:
        essential: list[asyncio.Task[None]] = []
        auxiliary: list[asyncio.Task[None]] = []
        session = None
        # SIGTERM (kill, systemd, docker stop) ends the run like --duration:
        # outputs closed properly (a .gz recording gets its end marker), exit 0.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self._terminated)
        try:
            if self.metrics is not None and self.config.metrics_listen is not None:
                from binmon import metrics_server as http

                self.metrics_server = await http.start(self.metrics, self.config.metrics_listen)
                bound = http.Listen(self.config.metrics_listen.host, self.metrics_server.port)
                # The port bound is news when it was 0 (any free port).
                self.diag.info(f"metrics on http://{bound}/metrics")
            if self.config.from_file:
                # The end of the file is the end of the run (exit 0), tables or not.
                essential.append(asyncio.create_task(self._replay(self.config.from_file)))
            else:
                import aiohttp

                # Proxies come from binmon.proxy, per request (loopback never proxied).
                session = aiohttp.ClientSession()
                essential.extend(self._connections(session))
                if CONTRACTS in self.config.kinds:
                    self.feed.hold_contracts()
                    seeding = asyncio.create_task(self._seed_contracts(session))
                    auxiliary.append(seeding)
                    auxiliary.append(asyncio.create_task(self._release_when_seeded(seeding)))
                if ASSETS in self.config.kinds and self.view is not None:
                    auxiliary.append(asyncio.create_task(self._seed_assets(session)))
            if self.view is not None:
                essential.append(asyncio.create_task(self.view.run(self.stop)))
            if self.output is not None and self.output.threaded:
                # The reader went away: end now, not at the next event (which
                # may be hours away on a quiet stream).
                essential.append(asyncio.create_task(self._output_failed(self.output)))
            await self._wait(essential, auxiliary)
        except BaseException:
            self.interrupted = True
            raise
        finally:
            for task in (*essential, *auxiliary):
                task.cancel()
            for task in (*essential, *auxiliary):
                with contextlib.suppress(BaseException):
                    await task
            if session is not None:
                await session.close()
            if self.metrics_server is not None:
                await self.metrics_server.close()
            self._close_outputs()

    @staticmethod
    async def _output_failed(output: Output) -> None:
        raise await output.failure()

    def _terminated(self) -> None:
        self.diag.info("terminated (SIGTERM); closing outputs")
        self.interrupted = True
        self.stop.set()

    def _close_outputs(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.diag.info(f"recorded {self.recorder.frames} frame(s) to {self.recorder.path}")
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.sink.close()
            if self.output is not None:
                grace = self.config.exit_grace if self.interrupted else None
                unwritten = self.output.close(grace)
                if unwritten:
                    self.diag.info(
                        f"stdout is not being read: {unwritten:,} bytes of output "
                        f"dropped at exit after waiting {grace:g}s"
                    )
        if self.feed.malformed:
            self.diag.info(f"skipped {self.feed.malformed} malformed frame(s) in all")

    async def _wait(
        self, essential: list[asyncio.Task[None]], auxiliary: list[asyncio.Task[None]]
    ) -> None:
        stopper = asyncio.create_task(self.stop.wait())
        pending: set[asyncio.Task[Any]] = {stopper, *essential, *auxiliary}
        try:
            async with asyncio.timeout(self.config.duration):
                while True:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        if task is not stopper and task.exception() is not None:
                            raise task.exception()  # type: ignore[misc]
                    if stopper in done or any(t in done for t in essential):
                        return
        except TimeoutError:
            if self.config.duration is None:
                raise
        finally:
            stopper.cancel()

    def _connections(self, session: Any) -> list[asyncio.Task[None]]:
        config = self.config
        tasks = []
        groups = []
        if ASSETS in config.kinds:
            groups.append((ASSETS, asset_streams(config.assets), True))
        if CONTRACTS in config.kinds:
            groups.append((CONTRACTS, [CONTRACT_INFO], False))
        for kind, streams, periodic in groups:
            status = self.statuses[kind]
            url = combined_url(config.endpoints.ws_url, streams)
            legacy = combined_url(config.endpoints.ws_url, streams, legacy=True)
            connection = Connection(
                url,
                session,
                _bind(self.feed.message, status),
                status,
                self.diag,
                periodic=periodic,
                settings=config.settings,
                backoff=config.backoff(),
                fallback_url=legacy if config.endpoints.legacy_fallback else None,
                backpressure=self.output,
            )
            tasks.append(asyncio.create_task(connection.run()))
        return tasks

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        from binmon.rest import RestError

        backoff = self.config.backoff()
        while True:
            try:
                await attempt()
                return
            except RestError as exc:
                # Rate limited (429/418): the server's Retry-After wins over our backoff.
                delay = max(backoff.next_delay(), exc.retry_after or 0.0)
                self.diag.info(f"{what} failed ({exc}); retrying in {delay:.1f}s")
                await asyncio.sleep(delay)

    async def _seed_contracts(self, session: Any) -> None:
        from binmon.rest import RestClient

        client = RestClient(session, self.config.endpoints.rest_url)

        async def attempt() -> None:
            info = await client.exchange_info()
            seeds = contracts_from_exchange_info(info)
            self.book.seed(seeds)
            if self.recorder is not None:
                # Replays then compute the same `changes` as the live run did.
                self.recorder.write(SNAPSHOT_STREAM, snapshot_payload(seeds))
            self.diag.debug(f"contract snapshot: {len(seeds)} symbols")
            if self.view is not None:
                self.view.seeded()

        await self._retrying("exchangeInfo", attempt)

    async def _release_when_seeded(self, seeding: asyncio.Task[None]) -> None:
        # Contract events wait for the snapshot, but not for long: a feed
        # without `changes` context beats no feed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(seeding), self.config.seed_wait)
        self.feed.release()

    async def _seed_assets(self, session: Any) -> None:
        from binmon.rest import RestClient

        client = RestClient(session, self.config.endpoints.rest_url)
        view = self.view
        assert view is not None

        async def attempt() -> None:
            view.seed_assets(await client.asset_index())

        await self._retrying("assetIndex", attempt)

    async def _replay(self, path: str) -> None:
        speed = self.config.speed
        if speed is None:
            speed = 0.0 if self.view is None else 1.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_recv: int | None = None
        bad = 0
        payload = self.feed.payload
        kinds = self.config.kinds
        statuses = self.statuses
        # As fast as possible, whole asset lines may skip decoding altogether,
        # and output is flushed in batches rather than per frame.
        fast = speed == 0 and ASSETS in kinds
        batched = self.sink if speed == 0 and isinstance(self.sink, JsonLinesSink) else None
        if batched is not None:
            batched.batch()
        output = self.output
        asset_status = statuses.get(ASSETS)
        lines = read_lines(path, self.diag.info)
        while chunk := list(islice(lines, 256)):
            if batched is not None:
                batched.flush()
            if output is not None and output.backlogged:
                await output.drained()  # a file is read no faster than it is consumed
            await asyncio.sleep(0)  # let the view and signals breathe
            i, end = 0, len(chunk)
            while i < end:
                if self.feed.done:
                    break
                if fast:
                    assert asset_status is not None
                    i = self.feed.recorded_lines(chunk, i, asset_status, loop.time())
                    if i == end:
                        break
                line = chunk[i]
                i += 1
                recorded = decode_line(line)
                if recorded is None:
                    bad += 1
                    self.diag.warn(
                        f"{path}: skipped a line that is not a recorded frame", key="replay"
                    )
                    continue
                if recorded.stream == SNAPSHOT_STREAM:
                    self.book.seed(contracts_from_snapshot(bytes(recorded.data)))
                    continue
                kind = ASSETS if is_asset_index_stream(recorded.stream) else CONTRACTS
                if kind not in kinds:
                    continue
                if speed > 0:
                    if first_recv is None:
                        first_recv = recorded.recv_time
                    due = started + (recorded.recv_time - first_recv) / 1000 / speed
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                status = statuses[kind]
                status.message(loop.time())
                payload(recorded.stream, bytes(recorded.data), status)
            if self.feed.done:
                break
        if bad:
            self.diag.info(f"{path}: {bad} line(s) were not recorded frames")


class _Both:
    """The command's own sink, then the metrics: each event goes to both."""

    def __init__(self, first: Sink, second: Sink) -> None:
        self.first = first
        self.second = second

    def assets(self, events: list[Any], raw: list[bytes] | None) -> None:
        self.first.assets(events, raw)
        self.second.assets(events, raw)

    def contract(self, event: Any, changes: list[Any], raw: bytes | None) -> None:
        self.first.contract(event, changes, raw)
        self.second.contract(event, changes, raw)

    def close(self) -> None:
        self.first.close()
        self.second.close()


def _bind(
    method: Callable[[bytes | str, StreamStatus], None], status: StreamStatus
) -> Callable[[bytes | str], None]:
    def on_message(data: bytes | str) -> None:
        method(data, status)

    return on_message


def run(config: RunConfig, env: Environment, diag: Diagnostics) -> None:
    """Run to completion; expected failures surface as :class:`BinmonError`."""
    runner = Runner(config, env, diag)
    asyncio.run(runner.run())
