"""Client-side rate limiting, shared by every request to one (account, endpoint class).

`RateLimiter` holds `RateLimit(requests, per_seconds)` exactly: a bucket of `requests` tokens in
which each spent token comes back `per_seconds` after it was taken. Unlike a bucket refilled at a
steady rate (which lets through up to twice the limit in one window after an idle spell), this
never starts more than `requests` in any window, which is what servers with rolling windows
count. Callers reserve a start time without awaiting anything in between, so the limiter needs no
lock and serves concurrent callers in arrival order.

It also listens to the server. A `QuotaParser` reads remaining-quota headers, and:

* for a limiter with a window of its own, the server's count is adopted where it is *lower*
  than ours (`observe` → `_adopt`): a process that just started believes its window is empty,
  while the server still counts what the previous process (or another one sharing the account)
  sent in the last window. The difference is entered as starts spread evenly over the window —
  the steady state of a sender at the limit — so they free one slot at a time instead of all at
  once. Where our own count is already as high, nothing changes, so the limiter never throttles
  twice for the same requests. The server's `limit` lowers our capacity when it is below the
  configured one.
* without a window of its own, or for long (e.g. daily) quotas, requests are spread over the rest
  of the window once little is left; when a long quota is at zero, `acquire` raises
  `QuotaExhaustedError` until it resets.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from connector.errors import QuotaExhaustedError
from connector.http.settings import RateLimit
from connector.timestamps import MonotonicClock

Sleep = Callable[[float], Awaitable[None]]

LOW_WATER_FRACTION = 0.1
# Pauses longer than this are a spent quota, not a pace: fail fast with the reset time instead.
MAX_PACING_PAUSE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class QuotaHint:
    """What a response said about the quota: `remaining` of `limit` in a window of that length."""

    remaining: int
    limit: int | None
    window_seconds: float


QuotaParser = Callable[[httpx.Headers], "QuotaHint | None"]


@dataclass(frozen=True, slots=True)
class Pacing:
    """How to pace after a hint: at least `spacing` s between starts, for `duration` s."""

    spacing: float
    duration: float
    exhausted: bool = False


def pacing_for(hint: QuotaHint, low_water_fraction: float = LOW_WATER_FRACTION) -> Pacing | None:
    """None while plenty is left; otherwise spread what is left over the window."""
    if hint.limit is not None and hint.limit > 0:
        low_water = max(1, math.ceil(hint.limit * low_water_fraction))
    else:
        low_water = 1
    if hint.remaining > low_water:
        return None
    if hint.remaining <= 0:
        return Pacing(
            spacing=hint.window_seconds,
            duration=hint.window_seconds,
            exhausted=hint.window_seconds > MAX_PACING_PAUSE_SECONDS,
        )
    return Pacing(spacing=hint.window_seconds / hint.remaining, duration=hint.window_seconds)


def remaining_header_parser(
    remaining: str,
    *,
    limit: str | None = None,
    window_ms: str | None = None,
    window_seconds: float = 10.0,
) -> QuotaParser:
    """Reads a quota from headers: remaining count, optional limit and window-length headers."""

    def parse(headers: httpx.Headers) -> QuotaHint | None:
        left = _int_header(headers, remaining)
        if left is None:
            return None
        window = window_seconds
        if window_ms is not None:
            millis = _int_header(headers, window_ms)
            if millis is not None and millis > 0:
                window = millis / 1000.0
        return QuotaHint(left, _int_header(headers, limit) if limit else None, window)

    return parse


def usage_ratio_parser(header: str, key: str, *, window_seconds: float) -> QuotaParser:
    """Reads `key=used/limit` out of a header such as `name=10018/100000, other=1/750`."""
    pattern = re.compile(rf"(?:^|[\s,;]){re.escape(key)}=(\d+)/(\d+)")

    def parse(headers: httpx.Headers) -> QuotaHint | None:
        value = headers.get(header)
        if value is None:
            return None
        match = pattern.search(value)
        if match is None:
            return None
        used, total = int(match.group(1)), int(match.group(2))
        return QuotaHint(total - used, total, window_seconds)

    return parse


def _int_header(headers: httpx.Headers, name: str | None) -> int | None:
    if name is None:
        return None
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


class RateLimiter:
    """At most `limit.requests` starts per `limit.per_seconds`, plus pacing from server hints."""

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        name: str = "",
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        low_water_fraction: float = LOW_WATER_FRACTION,
    ) -> None:
        self.limit = limit
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._low_water = low_water_fraction
        self._starts: deque[float] = deque(maxlen=limit.requests if limit else 1)
        #: Starts allowed per window: the configured limit, or the server's if that is lower.
        self._capacity = limit.requests if limit else 0
        self._last = -math.inf
        self._spacing = 0.0
        self._paced_until = -math.inf
        self._exhausted_until = -math.inf

    def reserve(self) -> float:
        """Claims the next start slot; returns how long the caller must wait for it."""
        now = self._clock()
        if now < self._exhausted_until:
            resets_in = self._exhausted_until - now
            raise QuotaExhaustedError(
                f"{self.name or 'remote'} quota exhausted; resets in {resets_in:.0f} s",
                resets_in=resets_in,
            )
        start = max(now, self._last)
        limit = self.limit
        if limit is not None and len(self._starts) >= self._capacity:
            start = max(start, self._starts[-self._capacity] + limit.per_seconds)
        if start < self._paced_until:
            start = max(start, self._last + self._spacing)
        if limit is not None:
            self._starts.append(start)
        self._last = start
        return start - now

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)

    def exhaust(self, resets_in: float) -> None:
        """The server said the quota is spent for `resets_in` s: refuse locally until then."""
        self._exhausted_until = max(self._exhausted_until, self._clock() + resets_in)

    def observe(self, hint: QuotaHint) -> None:
        """Adopts the server's view of the quota (called with each response's hint)."""
        if self.limit is not None and hint.window_seconds <= MAX_PACING_PAUSE_SECONDS:
            self._adopt(hint)
            return
        pacing = pacing_for(hint, self._low_water)
        now = self._clock()
        if pacing is None:
            self._paced_until = -math.inf
            self._spacing = 0.0
            return
        if pacing.exhausted:
            self.exhaust(pacing.duration)
            return
        self._spacing = pacing.spacing
        self._paced_until = now + pacing.duration

    def slot_seconds(self) -> float | None:
        """How often a full rolling window frees a slot at steady state: window / capacity."""
        if self.limit is None or self._capacity <= 0:
            return None
        return self.limit.per_seconds / self._capacity

    def in_window(self) -> int:
        """Starts (ours, and those adopted from the server) counted in the current window."""
        if self.limit is None:
            return 0
        horizon = self._clock() - self.limit.per_seconds
        return sum(1 for start in self._starts if start > horizon)

    def _adopt(self, hint: QuotaHint) -> None:
        limit = self.limit
        assert limit is not None
        if hint.limit is not None and 0 < hint.limit < self._capacity:
            self._capacity = hint.limit
        missing = (self._capacity - self.in_window()) - max(0, hint.remaining)
        if missing <= 0:
            return
        # Unknown starts, assumed spread evenly over the server's window: the k-th of n frees
        # its slot (k + 1) / (n + 1) of a window from now. Our window length is kept, so a
        # start placed at t frees at t + per_seconds.
        now = self._clock()
        window = min(hint.window_seconds, limit.per_seconds)
        step = window / (missing + 1)
        adopted = [now - limit.per_seconds + step * (k + 1) for k in range(missing)]
        self._starts = deque(sorted([*self._starts, *adopted]), maxlen=self._starts.maxlen)


class LimiterRegistry:
    """One limiter per key in the process, so all clients of an account share its budget."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, ...], RateLimiter] = {}

    def get(
        self,
        key: tuple[str, ...],
        limit: RateLimit | None,
        *,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> RateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None or limiter.limit != limit:
            limiter = RateLimiter(limit, name="/".join(key), clock=clock, sleep=sleep)
            self._limiters[key] = limiter
        return limiter

    def clear(self) -> None:
        self._limiters.clear()


DEFAULT_REGISTRY = LimiterRegistry()
