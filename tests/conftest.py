from __future__ import annotations

import os
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
