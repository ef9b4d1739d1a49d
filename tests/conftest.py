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


def _shared_data() -> Path:
    # Beside the repository when there is one; a worktree elsewhere names it.
    beside = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if beside.is_dir() or "BINMON_SHARED_DATA" not in os.environ:
        return beside
    return Path(os.environ["BINMON_SHARED_DATA"])


SHARED_DATA = _shared_data()


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
