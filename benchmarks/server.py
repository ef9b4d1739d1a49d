"""A local stand-in for the exchange's market stream, built to be fast, not faithful.

Run as ``python -m benchmarks.server [--port 0]`` from the repository root; it
prints ``PORT <n>`` once it listens on 127.0.0.1 and serves until its stdin
closes (so it never outlives the benchmark that started it).

A benchmark first creates a *job* (``POST /jobs``: how many frames, where to
pause); the job's WebSocket base URL is ``ws://127.0.0.1:PORT/j/<id>``, so
clients connect to ``/j/<id>/market/stream?streams=!assetIndex@arr`` (binmon,
the naive clients) or to ``/j/<id>/market/stream`` and then ``SUBSCRIBE``
(Binance's SDK, which also opens ``/public`` and ``/private`` connections,
held open and idle here). The first market connection of a job gets its
frames as fast as the socket takes them, then a close frame.
``GET /jobs/<id>`` reports when the first and last frames were written
(``time.monotonic()``, which is system-wide on Linux) and how many.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from benchmarks import frames

# Frame sets are encoded once per (count, start) and shared by every job.
_ENCODED: dict[tuple[int, int], list[bytes]] = {}


@dataclass
class Job:
    id: str
    frames: int
    start_e: int
    # Stop after this many frames (cumulative) until POST /jobs/<id>/resume.
    pauses: list[int] = field(default_factory=list)
    # Pre-encode every frame before the client connects (False: encode while sending).
    preencode: bool = True
    close: bool = True
    connections: int = 0
    market_connections: int = 0
    sent: int = 0
    first_sent: float | None = None
    last_sent: float | None = None
    paused_at: int | None = None
    done: bool = False
    resume: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "frames": self.frames,
            "connections": self.connections,
            "market_connections": self.market_connections,
            "sent": self.sent,
            "first_sent": self.first_sent,
            "last_sent": self.last_sent,
            "paused_at": self.paused_at,
            "done": self.done,
        }


class BenchServer:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/jobs", self.create_job)
        app.router.add_get("/jobs/{job}", self.get_job)
        app.router.add_post("/jobs/{job}/resume", self.resume_job)
        app.router.add_get("/j/{job}/{route}/stream", self.websocket)
        return app

    # -- control ------------------------------------------------------------

    async def create_job(self, request: web.Request) -> web.Response:
        spec = await request.json()
        job = Job(
            id=f"j{next(self._ids)}",
            frames=int(spec["frames"]),
            start_e=int(spec.get("start_e", frames.START_E)),
            pauses=sorted(int(p) for p in spec.get("pauses", [])),
            preencode=bool(spec.get("preencode", True)),
            close=bool(spec.get("close", True)),
        )
        if job.preencode:
            key = (job.frames, job.start_e)
            if key not in _ENCODED:
                _ENCODED.clear()  # keep one set: they can be large
                _ENCODED[key] = frames.messages(job.frames, job.start_e)
        self.jobs[job.id] = job
        return web.json_response({"id": job.id})

    def _job(self, request: web.Request) -> Job:
        job = self.jobs.get(request.match_info["job"])
        if job is None:
            raise web.HTTPNotFound(text="no such job")
        return job

    async def get_job(self, request: web.Request) -> web.Response:
        return web.json_response(self._job(request).report())

    async def resume_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        job.paused_at = None
        job.resume.set()
        return web.json_response(job.report())

    # -- streaming ----------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        job.connections += 1
        streams = request.query.get("streams")
        is_market = request.match_info["route"] == "market"
        first_market = is_market and job.market_connections == 0
        if is_market:
            job.market_connections += 1
        if not first_market:
            await _hold(ws, None)  # idle /public, /private, or an unexpected reconnect
            return ws
        subscribed = asyncio.Event()
        if streams is not None:
            if frames.STREAM not in streams.split("/"):
                await ws.close(code=1008, message=b"unknown stream")
                return ws
            subscribed.set()
        reader = asyncio.create_task(_hold(ws, subscribed))
        try:
            await subscribed.wait()
            if streams is None:
                # A SUBSCRIBE client registers its callback right after sending.
                await asyncio.sleep(0.05)
            await self._stream(ws, job)
            if job.close:
                await ws.close()
            else:
                await reader
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        return ws

    async def _stream(self, ws: web.WebSocketResponse, job: Job) -> None:
        encoded = _ENCODED.get((job.frames, job.start_e)) if job.preencode else None
        send = ws.send_frame
        text = WSMsgType.TEXT
        clock = time.monotonic
        job.first_sent = clock()
        pauses = [p for p in job.pauses if 0 < p < job.frames]
        start = 0
        for stop in [*pauses, job.frames]:
            if encoded is not None:
                for data in itertools.islice(encoded, start, stop):
                    await send(data, text)
            else:
                for n in range(start, stop):
                    await send(frames.message(n, job.start_e), text)
            job.sent = stop
            job.last_sent = clock()
            start = stop
            if stop < job.frames:
                job.paused_at = stop
                job.resume.clear()
                await job.resume.wait()
        job.done = True


async def _hold(ws: web.WebSocketResponse, subscribed: asyncio.Event | None) -> None:
    """Read until the client leaves: answer SUBSCRIBE & co (pings are automatic)."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            request = json.loads(msg.data)
        except ValueError:
            continue
        if not isinstance(request, dict) or "id" not in request:
            continue
        method = request.get("method")
        result: Any = [frames.STREAM] if method == "LIST_SUBSCRIPTIONS" else None
        await ws.send_str(json.dumps({"result": result, "id": request["id"]}))
        if (
            method == "SUBSCRIBE"
            and subscribed is not None
            and frames.STREAM in request.get("params", [])
        ):
            subscribed.set()


async def _serve(host: str, port: int) -> None:
    server = BenchServer()
    runner = web.AppRunner(server.app(), shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets  # type: ignore[union-attr]
    print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    # Serve until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
