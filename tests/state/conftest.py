"""Fixtures of the state store's lease and run tests: each module sets its own `clock`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.state.stores import StorePair, WallClock, two_stores


@pytest.fixture
def two(store_url: str, tmp_path: Path, clock: WallClock) -> Iterator[StorePair]:
    """Two processes' stores on `store_url`, sharing the module's `clock`."""
    yield from two_stores(store_url, tmp_path, clock)
