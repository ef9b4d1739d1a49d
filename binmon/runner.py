"""Wires a streaming command together: source (network or recording) → feed → consumers.

Owns the event loop's tasks: connections, REST seeding, replay, the live
view, and the stop conditions (``--count``, ``--duration``, end of file,
a fatal error).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from binmon.account import Account
from binmon.alerts import FEED
from binmon.collateral import Collateral
from binmon.connection import Connection
from binmon.consumer import Consumer, Fanout
from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.feed import Feed
from binmon.leverage import SymbolBrackets
from binmon.output import Output
from binmon.positions import Positions
from binmon.protocol import (
    ASSET_INDEX_ALL,
    CONTRACT_INFO,
    Bracket,
    asset_index_stream,
    combined_url,
)
from binmon.recording import Recorder, replay
from binmon.run_config import ASSETS, CONTRACTS, Endpoints, RunConfig
from binmon.sinks import JsonLinesSink
from binmon.state import ContractBook, contracts_from_exchange_info
from binmon.status import StreamStatus
from binmon.view_input import ViewInput

if TYPE_CHECKING:
    from binmon.alert_outputs import AlertOutputs
    from binmon.alerts import PositionView
    from binmon.metrics import Metrics
    from binmon.metrics_server import MetricsServer
    from binmon.protocol import ContractInfo
    from binmon.state import Change

__all__ = ["ASSETS", "CONTRACTS", "Endpoints", "RunConfig", "Runner", "run"]

# How often stream health is looked at for feed alerts (seconds).
FEED_CHECK = 0.5


def asset_streams(assets: tuple[str, ...]) -> list[str]:
    return [asset_index_stream(a) for a in assets] if assets else [ASSET_INDEX_ALL]


async def _after(gate: asyncio.Task[None] | None, start: Callable[[], Awaitable[None]]) -> None:
    """``start()`` once ``gate`` is done (at once without one)."""
    if gate is not None:
        await asyncio.shield(gate)  # one waiter's cancellation must not cancel it for all
    await start()


class Runner:
    def __init__(self, config: RunConfig, env: Environment, diag: Diagnostics) -> None:
        self.config = config
        self.env = env
        self.diag = diag
        self.book = ContractBook()
        self.statuses = {kind: StreamStatus(kind) for kind in config.kinds}
        self.stop = asyncio.Event()
        self.view: Any = None  # binmon.view.LiveView, when the output is the tables
        self.output: Output | None = None
        self.interrupted = False
        self.recorder = Recorder(config.record_path) if config.record_path else None
        # What the user holds and how big their positions are, when they said.
        self.collateral: Collateral | None = None
        if ASSETS in config.kinds and (config.holdings or config.account) and not self.recorder:
            self.collateral = Collateral(config.holdings)
        self.positions: Positions | None = None
        if CONTRACTS in config.kinds and not self.recorder:
            self.positions = Positions(config.positions, self.book.contracts)
        self.metrics: Metrics | None = None
        self.metrics_server: MetricsServer | None = None
        self.alert_outputs: AlertOutputs | None = None
        self.consumers = self._make_fanout(self._make_consumers())
        encoders = None
        if self.collateral is not None:
            from binmon.valuation import attach

            encoders = attach(self.collateral, self.consumers, diag)
        self.feed = Feed(
            self.consumers,
            diag,
            filters=config.filters,
            book=self.book,
            count=config.count,
            raw=config.raw,
            dedupe=config.from_file is None,
            on_done=self.stop.set,
            encoders=encoders,
        )

    def _make_fanout(self, consumers: list[Consumer]) -> Fanout:
        if not self.config.alerts:
            return Fanout(consumers)
        from binmon.alerting import AlertingFanout

        # Alerts are raised inside the fan-out: each right after its event.
        return AlertingFanout(consumers, self.config.alerts, positions=self._position_pair)

    def _position_pair(
        self, event: ContractInfo, changes: list[Change]
    ) -> tuple[PositionView | None, PositionView | None]:
        """For ``position`` alerts: the symbol's position now and on the ladder before."""
        update = None if self.positions is None else self.positions.for_event(event, changes)
        if update is None or update.before is None:
            return None, None
        from binmon.alerting import position_view

        return position_view(update.now), position_view(update.before)

    def _make_consumers(self) -> list[Consumer]:
        """The outputs, in the order they hear of each event."""
        outputs = self._make_outputs()
        config = self.config
        if config.metrics_listen is not None:
            from binmon.metrics import Metrics

            self.metrics = Metrics(
                self.statuses,
                self.book,
                stale_after=config.settings.stale_after,
                filters=config.filters,
                alert_kinds=config.alerts,
                # The collateral families are there from the start, values once valued.
                collateral=self.collateral is not None,
            )
            outputs.append(self.metrics)
        # The tables ring their own bell; elsewhere stderr rings it, if a terminal.
        bell = config.bell and self.view is None and self.env.stderr_isatty
        if config.alerts and (config.exec_command is not None or config.notify or bell):
            from binmon.alert_outputs import AlertOutputs

            self.alert_outputs = AlertOutputs(
                self.diag,
                exec_command=config.exec_command,
                notify=config.notify,
                bell=self.env.stderr if bell else None,
                exec_timeout=config.exec_timeout,
            )
            outputs.append(self.alert_outputs)
        return outputs

    def _make_outputs(self) -> list[Consumer]:
        if self.config.headless:
            return []
        if self.recorder is not None:
            return [self.recorder]
        if self.config.json or self.config.raw:
            self.output = Output(self.env.stdout, limit=self.config.output_limit)
            return [JsonLinesSink(self.output, raw=self.config.raw, positions=self.positions)]
        from binmon.view import make_live_view  # rich is only paid for here

        self.view = make_live_view(self.view_input())
        return [self.view]

    def view_input(self) -> ViewInput:
        config = self.config
        return ViewInput(
            kinds=config.kinds,
            command=config.command,
            contracts=MappingProxyType(self.book.contracts),
            statuses=MappingProxyType(self.statuses),
            filters=config.filters,
            terminal=self.env,
            diag=self.diag,
            stop=self.stop.set,
            demo=config.demo,
            replay=config.from_file,
            stale_after=float(config.settings.stale_after),
            assets=config.assets,
            sort=config.sort,
            contract_sort=config.contract_sort,
            positions=self.positions,
            bell=config.bell and bool(config.alerts),
        )

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
            if self.metrics is not None:
                await self._serve_metrics(self.metrics)
            if self.alert_outputs is not None:
                self.alert_outputs.start()
            if not self.config.from_file or self.config.account:
                import aiohttp

                # Proxies come from binmon.proxy, per request (loopback never proxied).
                session = aiohttp.ClientSession()
            # Events wait for the first account read (see _first_account_read);
            # everything else (the view, --duration, a signal) does not.
            gate: asyncio.Task[None] | None = None
            if self.config.account:
                first_read = asyncio.Event()
                account = asyncio.create_task(self._watch_account(session, first_read))
                auxiliary.append(account)
                gate = asyncio.create_task(self._first_account_read(first_read, account))
                auxiliary.append(gate)
            if self.config.from_file:
                # The end of the file is the end of the run (exit 0), tables or not.
                path = self.config.from_file
                essential.append(
                    asyncio.create_task(_after(gate, functools.partial(self._replay, path)))
                )
            else:
                essential.extend(self._connections(session, gate))
                if CONTRACTS in self.config.kinds:
                    self.feed.hold_contracts()
                    seeding = asyncio.create_task(self._seed_contracts(session))
                    auxiliary.append(seeding)
                    auxiliary.append(asyncio.create_task(self._release_when_seeded(seeding)))
                if ASSETS in self.config.kinds and self.consumers.wants_asset_snapshot:
                    auxiliary.append(asyncio.create_task(self._seed_assets(session)))
                if FEED in self.config.alerts:
                    auxiliary.append(asyncio.create_task(self._watch_feed()))
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
            if self.alert_outputs is not None:
                # Commands already asked for get to run (each within its
                # limit); interrupted, they get the exit grace.
                grace = self.config.exit_grace if self.interrupted else self.config.exec_timeout
                await self.alert_outputs.finish(grace)
            self._close_outputs()

    async def _watch_feed(self) -> None:
        """Feed alerts: a stream down for ``--alert-after``, and its recovery."""
        from binmon.alerts import FeedWatch

        watch = FeedWatch(after=self.config.alert_after)
        for kind, status in self.statuses.items():
            # The asset index is periodic: silence is an outage. Contract
            # events may be hours apart: connected is all it can show.
            watch.watch(status, self.config.settings.stale_after if kind == ASSETS else None)
        while True:
            await asyncio.sleep(FEED_CHECK)
            alerts = watch.check(time.monotonic())
            for alert in alerts:
                self.consumers.alert(alert)
            if alerts:
                self.consumers.flush()  # not part of a frame: nothing else flushes it

    async def _serve_metrics(self, metrics: Metrics) -> None:
        from binmon import metrics_server
        from binmon.endpoints import Listen

        listen = self.config.metrics_listen
        assert listen is not None
        self.metrics_server = await metrics_server.start(metrics, listen)
        # The port bound is news when it was 0 (any free port).
        bound = Listen(listen.host, self.metrics_server.port)
        self.diag.info(f"metrics on http://{bound}/metrics")

    @staticmethod
    async def _output_failed(output: Output) -> None:
        raise await output.failure()

    def _terminated(self) -> None:
        self.diag.info("terminated (SIGTERM); closing outputs")
        self.interrupted = True
        self.stop.set()

    def _close_outputs(self) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.consumers.close()
            if self.output is not None:
                grace = self.config.exit_grace if self.interrupted else None
                unwritten = self.output.close(grace)
                if unwritten:
                    self.diag.info(
                        f"stdout is not being read: {unwritten:,} bytes of output "
                        f"dropped at exit after waiting {grace:g}s"
                    )
        if self.recorder is not None:
            self.diag.info(f"recorded {self.recorder.frames} frame(s) to {self.recorder.path}")
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

    def _connections(
        self, session: Any, gate: asyncio.Task[None] | None = None
    ) -> list[asyncio.Task[None]]:
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
            tasks.append(asyncio.create_task(_after(gate, connection.run)))
        return tasks

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        from binmon.errors import FatalConnectionError, RestError
        from binmon.rest import retry_delay

        backoff = self.config.backoff()
        while True:
            try:
                await attempt()
                return
            except FatalConnectionError:
                raise  # 451, 401/403: asking again cannot help
            except RestError as exc:
                # The streams run meanwhile: every other failure is retried.
                delay = retry_delay(exc, backoff.next_delay())
                self.diag.info(f"{what} failed ({exc}); retrying in {delay:.1f}s")
                await asyncio.sleep(delay)

    async def _seed_contracts(self, session: Any) -> None:
        from binmon.rest import RestClient

        client = RestClient(session, self.config.endpoints.rest_url)
        # With a key, the signed ladders too (SPEC "Positions and brackets"),
        # fetched meanwhile and applied with the snapshot, in one go.
        brackets = None
        if self.config.credentials is not None and self.recorder is None:
            brackets = asyncio.create_task(self._bracket_snapshot(session))

        async def attempt() -> None:
            info = await client.exchange_info()
            seeds = contracts_from_exchange_info(info)
            self.book.seed(seeds)
            self.diag.debug(f"contract snapshot: {len(seeds)} symbols")
            if brackets is not None:
                self._seed_brackets(await brackets)
            self.consumers.contract_snapshot(seeds)

        try:
            await self._retrying("exchangeInfo", attempt)
        finally:
            if brackets is not None:
                brackets.cancel()

    async def _bracket_snapshot(self, session: Any) -> list[SymbolBrackets]:
        """Every symbol's signed ladder; ``[]`` (and a warning) when it cannot be had."""
        from binmon.errors import BinmonError
        from binmon.signed_rest import SignedClient

        assert self.config.credentials is not None
        try:
            async with SignedClient(
                self.config.endpoints.rest_url,
                self.config.credentials,
                diag=self.diag,
                session=session,
            ) as client:
                return list(await client.leverage_brackets())
        except BinmonError as exc:
            self.diag.warn(
                f"leverage brackets could not be read ({exc}); they are learnt from the stream"
            )
            return []

    def _seed_brackets(self, items: list[SymbolBrackets]) -> None:
        default: dict[str, tuple[Bracket, ...]] = {}
        for item in items:
            if item.personal and self.positions is not None:
                # The key's own ladder: for its position maths, never compared
                # with the stream's default brackets.
                self.positions.set_personal(item.symbol, item.brackets)
            elif not item.personal:
                default[item.symbol] = item.brackets
        self.book.seed_brackets(default)
        personal = len(items) - len(default)
        self.diag.debug(f"bracket snapshot: {len(default)} default ladders, {personal} personal")

    async def _watch_account(self, session: Any, first: asyncio.Event) -> None:
        from binmon.account_watch import watch_account

        assert self.config.credentials is not None
        await watch_account(
            self.config.endpoints.rest_url,
            self.config.credentials,
            session,
            every=self.config.account_every,
            apply=self._apply_account,
            diag=self.diag,
            first=first,
        )

    async def _first_account_read(self, read: asyncio.Event, task: asyncio.Task[None]) -> None:
        """Streams start once the account has been read (or could not be), so
        that the first events already meet its holdings and positions; but, as
        for the contract snapshot, not later than ``seed_wait``: a slow answer
        must not hold the streams back. A refused key ends the run at once
        (the account task fails, and with it the run)."""
        waiter = asyncio.create_task(read.wait())
        try:
            await asyncio.wait(
                {waiter, task}, timeout=self.config.seed_wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()

    def _apply_account(self, account: Account) -> None:
        if self.collateral is not None:
            self.collateral.replace(account.holdings, account.total_margin_balance)
        if self.positions is not None:
            # Positions given with --position win over the account's for their symbol.
            self.positions.replace({**account.positions, **self.config.positions})

    async def _release_when_seeded(self, seeding: asyncio.Task[None]) -> None:
        # Contract events wait for the snapshot, but not for long: a feed
        # without `changes` context beats no feed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(seeding), self.config.seed_wait)
        self.feed.release()

    async def _seed_assets(self, session: Any) -> None:
        from binmon.rest import RestClient

        client = RestClient(session, self.config.endpoints.rest_url)

        async def attempt() -> None:
            self.consumers.asset_snapshot(await client.asset_index())

        await self._retrying("assetIndex", attempt)

    async def _replay(self, path: str) -> None:
        speed = self.config.speed
        if speed is None:
            speed = 0.0 if self.view is None else 1.0
        await replay(
            path,
            self.feed,
            self.statuses,
            speed=speed,
            backlog=self.output,
            diag=self.diag,
        )


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
