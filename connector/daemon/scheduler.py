"""Runs each route on its `schedule` with APScheduler 3.11's `AsyncIOScheduler`.

One job per scheduled route, in memory: APScheduler 3.x job stores must never be shared between
schedulers (user guide, "Job stores must never be shared"; FAQ "How do I share a single job
store among one or more worker processes? … You can't"), so each daemon keeps its own and the
*state store's lease* is what keeps two daemons on one database from running a route at once:
`SyncService.run_route` takes the route's lease (a row in `leases` with an expiry, so a crashed
holder's lease runs out) and raises `LeaseHeldError` when another process holds it; that run is
then skipped, not failed.

Interval routes run once right at start, then every interval; cron routes wait for their time.
Job options: `max_instances=1` (a route never overlaps itself in one process), `coalesce=True`
(runs missed while the daemon was busy or asleep fold into one), and no misfire grace limit (a
late run still happens — the route is behind, which is exactly when it should run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connector.daemon.inbox import record_counts
from connector.daemon.logging import log_event
from connector.daemon.metrics import DaemonMetrics
from connector.engine.summary import RunSummary
from connector.errors import LeaseHeldError, LeaseLostError, StoreUnavailableError

LOGGER = logging.getLogger("connector.daemon.scheduler")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class RouteRunner(Protocol):
    """The part of `SyncService` the scheduler drives."""

    async def run_route(self, route_name: str, *, trigger: str = ...) -> RunSummary: ...


class Scheduled(Protocol):
    """A route as the scheduler sees it: a name and a schedule that makes a trigger."""

    @property
    def name(self) -> str: ...

    @property
    def schedule(self) -> Any: ...


class RouteScheduler:
    """The daemon's scheduler: start, then `stop()` to finish or abandon what is running."""

    def __init__(
        self,
        runner: RouteRunner,
        routes: Mapping[str, Scheduled],
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.runner = runner
        self.metrics = metrics or DaemonMetrics()
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults=dict(JOB_DEFAULTS))
        self._running: set[asyncio.Task[Any]] = set()
        for name, route in routes.items():
            if route.schedule is None:
                continue
            # An interval route catches up as soon as the daemon starts (it may have been down
            # for a while); a cron route keeps to its times, which people choose on purpose.
            first: dict[str, Any] = {}
            if getattr(route.schedule, "every_seconds", None) is not None:
                first["next_run_time"] = dt.datetime.now(dt.UTC)
            self.scheduler.add_job(
                self.run_once,
                trigger=route.schedule.trigger(),
                args=[name],
                id=name,
                name=name,
                **first,
            )

    @property
    def job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()]

    def start(self) -> None:
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log_event(LOGGER, "schedule.job", route=job.id, next_run=job.next_run_time)

    async def run_once(self, route: str) -> RunSummary | None:
        """One scheduled run of `route`, logged and counted; never raises."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        started = time.monotonic()
        log_event(LOGGER, "run.start", route=route, trigger="schedule")
        try:
            summary = await self.runner.run_route(route, trigger="schedule")
        except LeaseHeldError:
            self.metrics.run_finished(route, "schedule", "skipped", {})
            log_event(LOGGER, "run.skipped", route=route, reason="lease held by another process")
            return None
        except asyncio.CancelledError:
            log_event(LOGGER, "run.abandoned", logging.WARNING, route=route)
            raise
        except (LeaseLostError, StoreUnavailableError) as error:
            # Not a bug to chase: another process took the route over, or the store was away
            # for longer than `state.outage_seconds`; the next scheduled run carries on.
            outcome = "lease lost" if isinstance(error, LeaseLostError) else "store unavailable"
            self.metrics.run_finished(route, "schedule", outcome, {})
            log_event(
                LOGGER,
                "run.lease_lost" if isinstance(error, LeaseLostError) else "run.store_unavailable",
                logging.WARNING,
                route=route,
                reason=str(error),
                seconds=round(time.monotonic() - started, 3),
            )
            return None
        except Exception as error:
            self.metrics.run_finished(route, "schedule", "error", {})
            log_event(
                LOGGER,
                "run.failed",
                logging.ERROR,
                route=route,
                error_class=type(error).__name__,
                seconds=round(time.monotonic() - started, 3),
            )
            return None
        finally:
            if task is not None:
                self._running.discard(task)
        counts = record_counts(summary)
        self.metrics.run_finished(route, "schedule", summary.status, counts, time.time())
        log_event(
            LOGGER,
            "run.end",
            route=route,
            trigger="schedule",
            status=summary.status,
            run_id=summary.run_id,
            records=counts,
            seconds=round(time.monotonic() - started, 3),
        )
        return summary

    async def stop(self, grace_seconds: float) -> None:
        """Start nothing new; give running routes `grace_seconds`, then cancel them.

        A cancelled run loses only its current batch: the engine checkpoints the cursor after
        each durable batch, so the next run resumes there.
        """
        if self.scheduler.running:
            self.scheduler.pause()
        running = set(self._running)
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            # AsyncIOScheduler shuts down via call_soon_threadsafe: let that callback run.
            await asyncio.sleep(0)
