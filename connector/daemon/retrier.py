"""The daemon's failure retrier: replays retryable failures on its own, with backoff.

Every `daemon.failure_retry_seconds` it takes the pending failures that are retryable (a 5xx or
timeout that outlasted the HTTP retries, a batch whose metadata call failed, a parent not synced
yet), whose retry is due and that have attempts left, and replays them per route through
`SyncService.retry_failures` (each record is re-read from its source). What fails again waits
longer next time — exponential, capped at an hour, with equal jitter — and after
`daemon.failure_retry_attempts` attempts it is left for a person, as are failures that are not
retryable (the data must be fixed). `connector status` shows both.

A route whose lease is held (a run of it is going on) is simply looked at again next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connector.daemon.inbox import record_counts
from connector.daemon.logging import log_event
from connector.daemon.metrics import DaemonMetrics
from connector.engine.summary import RunSummary
from connector.errors import LeaseHeldError
from connector.state.store import Failure

LOGGER = logging.getLogger("connector.daemon.retrier")
#: The longest wait between two automatic retries of one record.
MAX_DELAY_SECONDS = 3600.0


class Replayer(Protocol):
    async def retry_failures(
        self, failures: Sequence[Failure], *, trigger: str = ...
    ) -> list[RunSummary]: ...


class RetryStore(Protocol):
    def due_failures(self, max_attempts: int, limit: int = ...) -> list[Failure]: ...

    def failures(
        self,
        *,
        route: str | None = ...,
        status: str | None = ...,
        ids: Sequence[int] | None = ...,
        limit: int | None = ...,
    ) -> list[Failure]: ...

    def defer_failures(self, retry_at: dict[int, dt.datetime | None]) -> None: ...

    clock: Callable[[], dt.datetime]


def retry_delay(
    attempts: int, base_seconds: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds until the next automatic retry of a record that failed `attempts` times."""
    ceiling = min(MAX_DELAY_SECONDS, base_seconds * 2.0 ** max(0, attempts - 1))
    return ceiling / 2 + rng() * ceiling / 2


@dataclass
class FailureRetrier:
    store: RetryStore
    service: Replayer
    every_seconds: float
    max_attempts: int
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    rng: Callable[[], float] = random.random

    async def retry_due(self) -> int:
        """Replay the failures that are due; how many were replayed."""
        due = await asyncio.to_thread(self.store.due_failures, self.max_attempts)
        by_route: dict[str, list[Failure]] = {}
        for failure in due:
            by_route.setdefault(failure.route, []).append(failure)
        replayed = 0
        for route, failures in by_route.items():
            try:
                summaries = await self.service.retry_failures(failures, trigger="retry")
            except LeaseHeldError:
                continue  # a run of the route is going on: next time
            except Exception as error:
                log_event(
                    LOGGER,
                    "failures.retry_error",
                    logging.WARNING,
                    route=route,
                    error_class=type(error).__name__,
                )
            else:
                for summary in summaries:
                    self.metrics.run_finished(
                        route, "retry", summary.status, record_counts(summary)
                    )
            replayed += len(failures)
            await asyncio.to_thread(self._defer_the_rest, failures)
        if replayed:
            log_event(LOGGER, "failures.retried", records=replayed)
        return replayed

    def _defer_the_rest(self, replayed: Sequence[Failure]) -> None:
        """Give each replayed record that is still pending its next retry time."""
        still = self.store.failures(ids=[failure.id for failure in replayed])
        now = self.store.clock()
        retry_at: dict[int, dt.datetime | None] = {}
        for failure in still:
            if failure.attempts >= self.max_attempts:
                retry_at[failure.id] = None  # a person's turn now
            else:
                seconds = retry_delay(failure.attempts, self.every_seconds, self.rng)
                retry_at[failure.id] = now + dt.timedelta(seconds=seconds)
        if retry_at:
            self.store.defer_failures(retry_at)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.retry_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store being briefly away must not end this
                log_event(
                    LOGGER, "failures.retry_error", logging.ERROR, error_class=type(error).__name__
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_seconds)
