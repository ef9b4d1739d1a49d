"""A real Prometheus scrapes `binmon exporter` running against `binmon serve`.

Three processes, as a user runs them; the test asks Prometheus' HTTP API what
it has stored, and `binmon serve`'s REST endpoint what it sent.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.prometheus import tool
from tests.test_process import BINMON, wait_for_output
from tests.waiting import wait_until_sync

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, what: str = "") -> T:
    """Poll ``probe`` until it gives something, and give that."""
    found: list[T] = []

    def given() -> bool:
        result = probe()
        if result is not None:
            found.append(result)
        return bool(found)

    wait_until_sync(given, timeout, what, step=lambda: time.sleep(0.1))
    return found[0]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    """A real Prometheus server scraping ``target`` every second."""

    base: str
    target: int
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        answer = get_json(url)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> str | None:
        result = self.query(expr)
        return None if not result else str(result[0]["value"][1])

    def ready(self) -> bool | None:
        try:
            with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as response:
                return True if response.status == 200 else None
        except OSError:
            assert self.process.poll() is None, self.log.read_text()
            return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """Started first: it takes ~5 s to apply its first targets, the rest starts meanwhile."""
    binary = tool("prometheus")
    target, web = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
        "scrape_configs:\n  - job_name: binmon\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target}']\n"
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{web}",
            ],
            stdout=out,
            stderr=out,
        )
    try:
        yield Prometheus(f"http://127.0.0.1:{web}", target, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            stop(process)


@pytest.fixture
def serve() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    # 10 Hz; with this seed, contract changes come at most 2.8 s apart.
    process = subprocess.Popen(
        [*BINMON, "serve", "--port", "0", "--rate", "10", "--seed", "7", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        port = int(banner.split("listening on 127.0.0.1:")[1].split()[0])
        yield process, port
    finally:
        stop(process)


def test_prometheus_scrapes_the_exporter(
    prometheus: Prometheus, serve: tuple[subprocess.Popen[bytes], int]
) -> None:
    api = prometheus
    server, port = serve
    rest = f"http://127.0.0.1:{port}"

    # What serve sent for BTCUSD, by event time: its REST answer follows each tick.
    sent: dict[int, str] = {}
    polling = threading.Event()

    def poll_rest() -> None:
        while not polling.is_set():
            try:
                entry = get_json(f"{rest}/fapi/v1/assetIndex?symbol=BTCUSD")
                sent[int(entry["time"])] = entry["index"]
            except OSError:
                pass  # serve stopped on purpose near the end
            polling.wait(0.02)

    threading.Thread(target=poll_rest, daemon=True).start()
    exporter = subprocess.Popen(
        [
            *BINMON,
            "exporter",
            "--listen",
            f"127.0.0.1:{api.target}",
            "--ws-url",
            f"ws://127.0.0.1:{port}",
            "--rest-url",
            rest,
            "--stale-after",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_output(exporter, b"/metrics\n")
        eventually(api.ready, what="Prometheus to be ready")

        # The stream is up, as Prometheus stored it.
        eventually(
            lambda: api.value('binmon_stream_up{stream="asset_index"} == 1'),
            what="binmon_stream_up 1",
        )
        assert api.value('up{job="binmon"}') == "1"

        # The price Prometheus holds is what serve sent at that event time.
        def scraped_price() -> tuple[int, str] | None:
            pair = {
                r["metric"]["__name__"]: r["value"][1]
                for r in api.query(
                    '{__name__=~"binmon_asset_index_price|binmon_asset_event_timestamp_seconds",'
                    'symbol="BTCUSD"}'
                )
            }
            if len(pair) != 2:
                return None
            event_ms = round(float(pair["binmon_asset_event_timestamp_seconds"]) * 1000)
            return (event_ms, pair["binmon_asset_index_price"]) if event_ms in sent else None

        event_ms, price = eventually(scraped_price, what="a scraped BTCUSD price serve sent")
        assert float(price) == float(sent[event_ms])

        # Contract changes from serve's scenario make the counter grow.
        def changes() -> float | None:
            value = api.value("sum(binmon_contract_changes_total)")
            return None if value is None else float(value)

        first = eventually(changes, what="binmon_contract_changes_total")
        eventually(
            lambda: (changes() or 0) > first or None,
            what="binmon_contract_changes_total to grow",
        )

        # serve gone: the asset index is down within --stale-after, and Prometheus sees 0.
        server.send_signal(signal.SIGKILL)
        eventually(
            lambda: api.value('binmon_stream_up{stream="asset_index"} == 0'),
            what="binmon_stream_up 0 after serve stopped",
        )
        assert api.value('up{job="binmon"}') == "1"  # binmon itself is still there

        exporter.send_signal(signal.SIGTERM)
        stdout, _ = exporter.communicate(timeout=15)
        assert exporter.returncode == 0
        assert stdout == b""
    finally:
        polling.set()
        stop(exporter)
