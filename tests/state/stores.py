"""Two stores on one URL that share a wall clock set by hand: the setting of the lease tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connector.state.store import StateStore, open_store

#: The two stores a test of two processes holds.
StorePair = tuple[StateStore, StateStore]


class WallClock:
    """The store's `clock`: an aware UTC time that moves only when a test moves it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Guard:
    """The lease check a run hands the fenced store (its local part always passes here)."""

    def __init__(self, lease: Any) -> None:
        self.lease = lease

    def check(self) -> None:
        pass


def two_stores(url: str, tmp_path: Path, clock: WallClock) -> Iterator[StorePair]:
    """Two processes' stores on `url` (each its own pool), closed after the test."""
    first = open_store(url, tmp_path, clock=clock)
    second = open_store(url, tmp_path, clock=clock)
    yield first, second
    first.close()
    second.close()
