"""Pure retry decisions: which requests may be repeated, and how long to wait before doing so.

Waits follow the "Full Jitter" scheme of the AWS Architecture Blog post "Exponential Backoff and
Jitter" (tenacity's `wait_random_exponential` implements it); a server's own `Retry-After`
(RFC 9110 §10.2.3: delay-seconds or an HTTP-date) wins over the backoff, plus up to a second of
jitter so a released herd does not re-trip the limit.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
from collections.abc import Callable

from tenacity import RetryCallState
from tenacity.stop import stop_base

# RFC 9110 §9.2.2: methods whose repetition has the same effect as one request.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

RETRY_AFTER_JITTER_SECONDS = 1.0


def is_idempotent(method: str, declared: bool | None = None) -> bool:
    """Whether a request may be sent again after an outcome we cannot see (e.g. a timeout).

    `declared` is the caller's word (an upsert by external id is a POST that is safe to repeat);
    without it the method decides.
    """
    if declared is not None:
        return declared
    return method.upper() in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date; None if unusable.

    A date in the past means "now" (0 s); garbage means the header is ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)  # lenient: some servers send "1.5"
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; obsolete forms may lack the zone
        when = when.replace(tzinfo=dt.UTC)
    reference = now if now is not None else dt.datetime.now(dt.UTC)
    return max(0.0, (when - reference).total_seconds())


def full_jitter_backoff(
    retry_number: int, base: float, cap: float, uniform: Callable[[float, float], float]
) -> float:
    """A random wait in [0, min(cap, base * 2**(retry_number - 1))] for the n-th retry."""
    ceiling = min(cap, base * 2 ** max(0, retry_number - 1))
    return uniform(0.0, ceiling)


def told_wait(seconds: float, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """The server told us how long to wait; add a little jitter on top, never less.

    The jitter is a tenth of the wait, at most a second: enough to spread a released herd, and
    an isolated short wait is not doubled by it.
    """
    return seconds + uniform(0.0, min(RETRY_AFTER_JITTER_SECONDS, seconds / 10))


def doubling_wait(
    refusals: int, first: float, cap: float, uniform: Callable[[float, float], float]
) -> float:
    """The wait after the `refusals`-th rate refusal of one request, for a rolling window.

    `first` doubled per refusal, capped, with "equal jitter" (half fixed, half random; AWS
    Architecture Blog, "Exponential Backoff and Jitter"), so the wait never drops to nothing.
    """
    ceiling = min(cap, first * 2.0 ** max(0, refusals - 1))
    return ceiling / 2 + uniform(0.0, ceiling / 2)


class stop_before_deadline(stop_base):
    """tenacity's `stop_before_delay` against an injectable clock.

    Stops when the next sleep would end past the deadline, so a request never starts after its
    budget. tenacity's own version reads `time.monotonic` directly, which a fake clock in tests
    cannot move.
    """

    def __init__(self, max_elapsed: float, clock: Callable[[], float], started: float) -> None:
        self.max_elapsed = max_elapsed
        self.clock = clock
        self.started = started

    def __call__(self, retry_state: RetryCallState) -> bool:
        elapsed = self.clock() - self.started
        return elapsed + retry_state.upcoming_sleep >= self.max_elapsed


class stop_after_failures(stop_base):
    """Stops after `max_attempts` attempts, not counting those refused for rate (429).

    A 429 is the server asking us to come back, not a failure of the request: those attempts
    are bounded by the elapsed-time budget instead.
    """

    def __init__(self, max_attempts: int, refused_for_rate: Callable[[], int]) -> None:
        self.max_attempts = max_attempts
        self.refused_for_rate = refused_for_rate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.attempt_number - self.refused_for_rate() >= self.max_attempts
