"""A fake clock for tests of code that waits: time moves only when someone sleeps.

Pass `clock` where the code takes a monotonic time function and `clock.sleep` where it takes an
async sleep (the HTTP layer's `ApiClient` takes both), then assert on `clock.sleeps`.
"""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """Monotonic time that advances only when someone sleeps; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wall(self) -> dt.datetime:
        """The same moment as an aware UTC datetime (for code that reads wall time)."""
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.now)
