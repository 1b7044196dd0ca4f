"""The daemon replays retryable failures on its own, with backoff, and leaves the rest for a
person; a batch whose call failed as a whole (a write or the metadata it needed) goes to
`failures` as retryable while the other batches go on. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.daemon.retrier import FailureRetrier, retry_delay
from connector.daemon.runner import serve
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore, open_store
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import config_for, write_config

ROUTE = {
    "systems": {
        "erp": {"adapter": "memory", "settings": {}},
        "crm": {"adapter": "memory", "settings": {}},
    },
    "routes": [{"name": "erp-to-crm", "from": "erp", "to": "crm", "entities": ["customer"]}],
}


@pytest.fixture
async def failed_batch(
    tmp_path: Path, any_store: StateStore
) -> AsyncIterator[tuple[SyncService, MemoryAdapter]]:
    """A runtime whose first run's first batch failed as a whole (after the client's retries);
    yields the service and the target."""
    erp = MemoryAdapter("erp", MemorySettings(page_size=30))
    crm = MemoryAdapter("crm", MemorySettings(batch_size=10, max_in_flight=1))
    for n in range(30):
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})
    config = config_for(tmp_path, ROUTE)
    async with Runtime.open(config, store=any_store, erp=erp, crm=crm) as runtime:
        service = SyncService(runtime)
        crm.fail_next_calls = 1
        summary = await service.run_route("erp-to-crm")
        assert summary.status == "partial" and summary.failed == 10
        yield service, crm


async def test_a_failed_batch_is_retried_by_the_daemon_until_it_syncs(
    failed_batch, any_store: StateStore, clock
) -> None:
    service, crm = failed_batch
    assert len(crm.data.entities[Entity.CUSTOMER]) == 20, "the other batches went on"
    pending = any_store.failures()
    assert len(pending) == 10 and all(f.retryable for f in pending)
    assert {f.code for f in pending} == {"BATCH_FAILED"}

    retrier = FailureRetrier(any_store, service, every_seconds=60, max_attempts=3)
    crm.fail_next_calls = 1  # still failing at the first automatic retry
    assert await retrier.retry_due() == 10
    waiting = any_store.failures()
    assert {f.attempts for f in waiting} == {2}
    assert all(f.next_retry_at and f.next_retry_at > clock.now for f in waiting)
    assert await retrier.retry_due() == 0, "not due yet: it backs off"

    clock.advance(120)  # past the second retry's delay (60 s … 120 s)
    assert await retrier.retry_due() == 10
    assert any_store.failures() == []
    assert len(crm.data.entities[Entity.CUSTOMER]) == 30


async def test_after_its_attempts_a_failure_waits_for_a_person(
    failed_batch, any_store: StateStore, clock
) -> None:
    service, crm = failed_batch
    retrier = FailureRetrier(any_store, service, every_seconds=60, max_attempts=2)
    crm.fail_next_calls = 1
    assert await retrier.retry_due() == 10
    clock.advance(7200)
    assert await retrier.retry_due() == 0, "two attempts used: a person's turn"
    outlook = any_store.retry_outlook(2)["erp-to-crm"]
    assert (outlook.retrying, outlook.for_a_person) == (0, 10)
    assert {f.next_retry_at for f in any_store.failures()} == {None}
    assert any_store.retry_outlook(5)["erp-to-crm"].retrying == 10


def test_the_delay_grows_and_is_capped() -> None:
    assert [retry_delay(n, 60, lambda: 1.0) for n in (1, 2, 3)] == [60, 120, 240]
    assert retry_delay(1, 60, lambda: 0.0) == 30
    assert retry_delay(30, 60, lambda: 1.0) == 3600


def test_status_says_what_the_daemon_retries(tmp_path: Path, sqlite_store: StateStore) -> None:
    with sqlite_store.transaction() as tx:
        for n, retryable in ((1, True), (2, True), (3, False)):
            tx.record_failure(
                "erp-to-crm",
                "customer",
                str(n),
                key=None,
                stage="push",
                error=RuntimeError("boom"),
                payload=None,
                retryable=retryable,
                next_retry_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC) if n == 2 else None,
            )
    path = write_config(tmp_path, ROUTE, f"sqlite:///{tmp_path / 'state.db'}")
    result = CliRunner().invoke(app, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    assert "2 retried by the daemon with backoff (next at its next look)" in result.output
    assert "1 need a person" in result.output
    listed = CliRunner().invoke(app, ["--config", str(path), "failures", "list"])
    assert listed.exit_code == 0, listed.output
    for note in ("yes, due", "yes, at", "2030-01-01T00:00:00+00:00", "no: fix the data"):
        assert note in listed.output, listed.output


async def test_the_daemon_heals_a_failed_batch_with_no_manual_step(tmp_path: Path) -> None:
    data = {
        **ROUTE,
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "routes": [{**ROUTE["routes"][0], "schedule": "0 3 * * *"}],  # no scheduled run
        "daemon": {"port": 0, "failure_retry_seconds": 0.2, "inbox_poll_seconds": 0.2},
    }
    config = load_config(write_config(tmp_path, data))
    erp = MemoryAdapter("erp", MemorySettings())
    crm = MemoryAdapter("crm", MemorySettings(batch_size=10, max_in_flight=1))
    for n in range(30):
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})
    store = open_store(config.state.url, tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        crm.fail_next_calls = 1
        await SyncService(runtime).run_route("erp-to-crm")
    assert len(store.failures()) == 10
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(config, with_scheduler=True, stop=stop, erp=erp, crm=crm))
    try:
        for _ in range(200):
            if not store.failures():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        assert await asyncio.wait_for(daemon, 10) == 0
    assert store.failures() == []
    assert len(crm.data.entities[Entity.CUSTOMER]) == 30
    assert [run.trigger for run in store.last_runs(1)] == ["retry"]
    store.close()
