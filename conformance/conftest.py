"""One real ``binmon serve`` process for the whole suite, on a free port.

The clients under test find it only through their documented base-URL
options; the demo key and secret are the ones serve prints at start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Serve:
    http: str  # http://127.0.0.1:PORT
    ws: str  # ws://127.0.0.1:PORT
    api_key: str
    api_secret: str


def _banner(out: Path, proc: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        # "Try: ..." is the banner's last line.
        if "\nTry: " in text:
            return dict(re.findall(r"^([A-Za-z ]+): (.*)$", text, re.MULTILINE))
        if proc.poll() is not None:
            raise RuntimeError(f"binmon serve exited with {proc.returncode}: {text}")
        time.sleep(0.05)
    raise RuntimeError("binmon serve printed no banner in time")


def _wait_until_answering(http: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(http + "/fapi/v1/time", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """``binmon serve --port 0 --rate 20``: a real process, as users start it."""
    folder = tmp_path_factory.mktemp("serve")
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "binmon", "serve", "--port", "0", "--rate", "20", "--seed", "7"],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        banner = _banner(out, proc)
        port = re.search(r":(\d+) \(", banner["binmon serve"])
        assert port is not None, banner
        http = f"http://127.0.0.1:{port.group(1)}"
        _wait_until_answering(http)
        yield Serve(http, http.replace("http://", "ws://"), banner["API key"], banner["API secret"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert b"Traceback" not in err.read_bytes(), err.read_text(errors="replace")
