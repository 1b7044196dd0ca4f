"""The route scheduler: one job per scheduled route, job options, logging, stopping."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import RouteConfig
from connector.daemon.logging import JsonFormatter
from connector.daemon.scheduler import RouteScheduler
from connector.engine.summary import EntityCounts, RunSummary
from connector.errors import LeaseHeldError, TransientError
from connector.model import Entity


def route(name: str, schedule: object) -> RouteConfig:
    return RouteConfig.model_validate(
        {"name": name, "from": "erp", "to": "crm", "entities": ["customer"], "schedule": schedule}
    )


ROUTES = {
    "every5": route("every5", "every 5m"),
    "nightly": route("nightly", {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}),
    "manual": route("manual", None),
}


class Runner:
    def __init__(self, outcome: object = None, hold: asyncio.Event | None = None) -> None:
        self.outcome = outcome
        self.hold = hold
        self.calls: list[tuple[str, str]] = []
        self.cancelled = False

    async def run_route(self, route_name: str, *, trigger: str = "cli") -> RunSummary:
        self.calls.append((route_name, trigger))
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if isinstance(self.outcome, Exception):
            raise self.outcome
        summary = RunSummary(route_name, status="succeeded", run_id=7)
        summary.counts[Entity.CUSTOMER] = EntityCounts(created=2, updated=3)
        return summary


async def test_one_job_per_scheduled_route_with_its_trigger() -> None:
    scheduler = RouteScheduler(Runner(), ROUTES)
    scheduler.start()  # job defaults are applied when the jobs reach the job store
    jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
    assert set(jobs) == {"every5", "nightly"}
    assert isinstance(jobs["every5"].trigger, IntervalTrigger)
    assert jobs["every5"].trigger.interval == dt.timedelta(minutes=5)
    nightly = jobs["nightly"].trigger
    assert isinstance(nightly, CronTrigger)
    assert str(nightly.timezone) == "Europe/Berlin"
    # 02:30 in Berlin is 00:30 UTC in summer (CEST, +2) and 01:30 UTC in winter (CET, +1).
    summer = nightly.get_next_fire_time(None, dt.datetime(2026, 7, 1, tzinfo=ZoneInfo("UTC")))
    winter = nightly.get_next_fire_time(None, dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    assert summer.astimezone(dt.UTC).hour == 0 and winter.astimezone(dt.UTC).hour == 1
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
    # The interval route catches up at once; the nightly one waits for 02:30 Berlin time.
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert jobs["every5"].next_run_time <= soon
    assert jobs["nightly"].next_run_time.astimezone(ZoneInfo("Europe/Berlin")).hour == 2
    await scheduler.stop(grace_seconds=1)


async def test_started_scheduler_plans_next_runs_and_stops() -> None:
    scheduler = RouteScheduler(Runner(), ROUTES)
    scheduler.start()
    assert all(job.next_run_time is not None for job in scheduler.scheduler.get_jobs())
    await scheduler.stop(grace_seconds=1)
    assert not scheduler.scheduler.running


async def test_run_logs_start_and_end_and_counts(caplog) -> None:
    scheduler = RouteScheduler(Runner(), ROUTES)
    with caplog.at_level(logging.INFO, logger="connector.daemon.scheduler"):
        summary = await scheduler.run_once("every5")
    assert summary is not None
    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records]
    assert [line["event"] for line in lines] == ["run.start", "run.end"]
    assert lines[1]["records"]["created"] == 2 and lines[1]["run_id"] == 7
    assert scheduler.metrics.runs[("every5", "schedule", "succeeded")] == 1
    assert scheduler.metrics.records[("every5", "updated")] == 3
    assert "every5" in scheduler.metrics.last_success


async def test_lease_held_is_a_skip_and_errors_do_not_escape(caplog) -> None:
    busy = RouteScheduler(Runner(LeaseHeldError("busy")), ROUTES)
    assert await busy.run_once("every5") is None
    assert busy.metrics.runs[("every5", "schedule", "skipped")] == 1
    broken = RouteScheduler(Runner(TransientError("CRM down")), ROUTES)
    with caplog.at_level(logging.INFO, logger="connector.daemon.scheduler"):
        assert await broken.run_once("every5") is None
    assert broken.metrics.runs[("every5", "schedule", "error")] == 1
    failed = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert failed["event"] == "run.failed" and failed["error_class"] == "TransientError"


async def test_stop_lets_a_quick_run_finish() -> None:
    hold = asyncio.Event()
    runner = Runner(hold=hold)
    scheduler = RouteScheduler(runner, ROUTES)
    scheduler.start()
    run = asyncio.create_task(scheduler.run_once("every5"))
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_soon(hold.set)
    await scheduler.stop(grace_seconds=5)
    assert (await run) is not None and not runner.cancelled


async def test_stop_abandons_a_run_past_the_grace_period() -> None:
    runner = Runner(hold=asyncio.Event())  # never released
    scheduler = RouteScheduler(runner, ROUTES)
    scheduler.start()
    run = asyncio.create_task(scheduler.run_once("every5"))
    await asyncio.sleep(0)
    await asyncio.wait_for(scheduler.stop(grace_seconds=0.05), 2)
    assert runner.cancelled and run.cancelled()


def test_json_formatter_output_is_one_object_per_line() -> None:
    from connector.daemon.logging import configure_logging, log_event

    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        log_event(logging.getLogger("connector.test"), "inbox.batch", events=3)
        logging.getLogger("connector.test").info("plain %s", "text")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "inbox.batch" and first["events"] == 3 and first["level"] == "info"
    assert second == {**second, "event": "log", "message": "plain text"}
