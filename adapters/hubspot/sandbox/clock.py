"""Time for the sandbox: a real clock for serving, a hand-driven one for tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    """Tells the current time in epoch milliseconds."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to, so rate-limit windows and timestamps are exact."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, milliseconds: int) -> None:
        self._now += milliseconds

    def set(self, epoch_ms: int) -> None:
        self._now = epoch_ms


@lru_cache(maxsize=8192)  # a batch renders many records sharing one timestamp
def iso_from_ms(epoch_ms: int) -> str:
    """HubSpot's timestamp format: `2019-12-07T16:50:06.678Z` (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def ms_from_iso(text: str) -> int:
    """Parse an ISO-8601 date or date-time (naive means UTC) into epoch milliseconds."""
    normalized = text.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(normalized)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
