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

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


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
