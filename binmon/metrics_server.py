"""HTTP for Prometheus: ``/metrics`` and ``/healthz``, on the streams' own event loop.

aiohttp serves both from the loop the connections run on: no thread, no lock.
A scrape's text is built synchronously (a few milliseconds, see
benchmarks/RESULTS.md) and then written like any response, so a scraper that
reads slowly or not at all only holds its own connection, never the streams.
"""

from __future__ import annotations

import os
from typing import Final

from aiohttp import web

from binmon.endpoints import Listen
from binmon.errors import BinmonError
from binmon.metrics import CONTENT_TYPE, Metrics

_METRICS_KEY: Final = web.AppKey("metrics", Metrics)

_INDEX: Final = b"""binmon exporter
/metrics   Prometheus metrics (text exposition format)
/healthz   200 ok when every stream is connected and delivering, else 503 and why
"""


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_METRICS_KEY].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _healthz(request: web.Request) -> web.Response:
    # The body is exactly `ok`, or the reason: one line, no newline to strip.
    problem = request.app[_METRICS_KEY].health()
    if problem is None:
        return web.Response(text="ok")
    return web.Response(status=503, text=problem)


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_INDEX, content_type="text/plain")


def make_app(metrics: Metrics) -> web.Application:
    app = web.Application()
    app[_METRICS_KEY] = metrics
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _index)
    return app


class MetricsServer:
    """The running HTTP server; ``port`` is the one bound (``--listen HOST:0`` picks one)."""

    def __init__(self, runner: web.AppRunner, listen: Listen, port: int) -> None:
        self._runner = runner
        self.listen = listen
        self.port = port

    async def close(self) -> None:
        await self._runner.cleanup()


async def start(metrics: Metrics, listen: Listen) -> MetricsServer:
    """Listen, or raise :class:`BinmonError` (port in use, unknown host) for a one-line exit 1."""
    # No access log: a scrape every few seconds is not news on stderr.
    runner = web.AppRunner(make_app(metrics), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, listen.host, listen.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio words a failed bind at length; the errno's own words are the news.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise BinmonError(f"cannot listen on {listen}: {reason}") from None
    server = site._server
    sockets = getattr(server, "sockets", None) or ()
    port = sockets[0].getsockname()[1] if sockets else listen.port
    return MetricsServer(runner, listen, port)
