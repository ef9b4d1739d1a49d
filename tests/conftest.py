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

# Beside the repository when it is there; else where BINMON_SHARED_DATA says
# (a worktree elsewhere has no ../shared beside it).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED_DATA.is_dir() and os.environ.get("BINMON_SHARED_DATA"):
    SHARED_DATA = Path(os.environ["BINMON_SHARED_DATA"])


@pytest.fixture
def exchange() -> Iterator[FakeExchange]:
    fake = FakeExchange().start()
    yield fake
    fake.stop()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
