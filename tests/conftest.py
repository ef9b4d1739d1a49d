from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exchange import FakeExchange

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
