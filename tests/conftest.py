from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.exchange import FakeExchange

# Property tests are deterministic: the same examples on every run and machine.
settings.register_profile("binmon", derandomize=True, database=None, deadline=None)
settings.load_profile("binmon")

# No test reads the config file of whoever runs the suite (processes inherit it too).
os.environ["BINMON_CONFIG"] = str(Path(__file__).resolve().parent / "no-such-config.toml")

# A suite started in the background (`make test &`, nohup) inherits SIGINT
# ignored, and every binmon it starts would inherit that too and outlive the
# Ctrl-C the tests send. A handler of our own is reset to the default at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Beside the repository; a checkout elsewhere names it in BINMON_SHARED_DATA.
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not SHARED_DATA.is_dir() and os.environ.get("BINMON_SHARED_DATA"):
    SHARED_DATA = Path(os.environ["BINMON_SHARED_DATA"])


@pytest.fixture
def exchange() -> Iterator[FakeExchange]:
    fake = FakeExchange().start()
    yield fake
    fake.stop()


@pytest.fixture
def shared_data() -> Path:
    for candidate in (SHARED_DATA, Path(os.environ.get("BINMON_SHARED_DATA", SHARED_DATA))):
        if candidate.is_dir():
            return candidate
    pytest.skip("../shared/data is not present (nor BINMON_SHARED_DATA)")
