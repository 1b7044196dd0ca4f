"""The overlapped pipeline never checkpoints past a page whose write has not returned.

Pages run as tasks: while page 1's write is in flight, pages 2 to 4 are read, mapped, written and
bound. The cursor must stay before page 1's records until that write returns, and if page 1
then fails as a whole, the cursor never passes it (a rerun re-reads it, duplicating nothing).
Nothing here is timed: the target holds page 1's write on an `asyncio.Event` that the test sets
once the later pages are handled, and the source reads page 4 only after pages 2 and 3 are done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from connector.adapter import NativeWrite, Page, WriteResult
from connector.engine.service import SyncService
from connector.engine.summary import EntityCounts
from connector.errors import ConfigurationError, TransientError
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore, StoreTx
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import config_for

ROUTE = "erp-to-crm"
PAGE = 2
PAGES = 4
#: Not a time limit on the engine: only what turns a deadlock into a failure.
DEADLOCK_SECONDS = 120


class Source(MemoryAdapter):
    """The ERP: reads page 4 only once pages 2 and 3 are handled (page 1 is still writing)."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        super().__init__("erp", MemorySettings(page_size=PAGE))
        self.log = log
        self.later_pages_handled = asyncio.Event()

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        number = 0
        async for page in super().read_changes(entity, since):
            number += 1
            if number == PAGES:
                await self.later_pages_handled.wait()
            self.log.append(("read", number))
            yield page


class Target(MemoryAdapter):
    """The CRM: page 1's write waits for `release`, then returns, or fails as told."""

    def __init__(self, log: list[tuple[str, object]], first_page: set[str]) -> None:
        super().__init__("crm", MemorySettings(batch_size=10, max_in_flight=PAGES))
        self.log = log
        self.first_page = first_page
        self.release = asyncio.Event()
        self.failure: Exception | None = None
        self.on_return = lambda: None

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        if not {write.source_id for write in writes} & self.first_page:
            return await super().upsert(entity, writes)
        self.log.append(("write 1 started", None))
        await self.release.wait()
        self.on_return()
        if self.failure is not None:
            self.log.append(("write 1 failed", None))
            raise self.failure
        self.log.append(("write 1 returned", None))
        return await super().upsert(entity, writes)


@pytest.fixture
def cursor_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every cursor the run commits, in order with the adapters' events."""
    log: list[tuple[str, object]] = []
    set_cursor = StoreTx.set_cursor

    def spied(tx: StoreTx, route: str, entity: str, watermark: dt.datetime | None) -> None:
        log.append(("cursor", watermark))
        set_cursor(tx, route, entity, watermark)

    monkeypatch.setattr(StoreTx, "set_cursor", spied)
    return log


def systems(store: StateStore, log: list[tuple[str, object]]):  # type: ignore[no-untyped-def]
    erp = Source(log)
    for n in range(PAGE * PAGES):
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})
    rows = sorted(erp.records(Entity.CUSTOMER), key=lambda row: (row.updated_at, row.id))
    first_page = rows[:PAGE]
    crm = Target(log, {row.id for row in first_page})
    # A cursor from an earlier run, before every record: the pull reads all four pages.
    start = rows[0].updated_at - dt.timedelta(seconds=1)
    with store.transaction() as tx:
        tx.set_cursor(ROUTE, Entity.CUSTOMER, start)
    log.clear()
    return erp, crm, start, first_page[0].updated_at, rows[-1].updated_at


async def run(tmp_path: Path, store: StateStore, erp: Source, crm: Target) -> EntityCounts:
    pages_done = 0

    def progress(entity: Entity, counts: EntityCounts) -> None:
        nonlocal pages_done
        pages_done += 1
        crm.log.append(("pages handled", pages_done))
        if pages_done == PAGES - 2:  # pages 2 and 3, while page 1 still writes
            erp.later_pages_handled.set()
        if pages_done == PAGES - 1:  # page 4 too: now page 1's write may return
            crm.release.set()

    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        sync = SyncService(runtime).run_route(ROUTE, entities=[Entity.CUSTOMER], progress=progress)
        # A pipeline that did not overlap would wait for page 1 forever: fail, not hang.
        summary = await asyncio.wait_for(sync, DEADLOCK_SECONDS)
    return summary.counts[Entity.CUSTOMER]


def before(log: list[tuple[str, object]], event: str) -> list[tuple[str, object]]:
    return log[: log.index((event, None))]


async def test_the_cursor_waits_for_page_one_while_later_pages_are_written(
    tmp_path, store, cursor_log
):
    log = cursor_log
    erp, crm, start, first, last = systems(store, log)
    at_return: list[dt.datetime | None] = []
    crm.on_return = lambda: at_return.append(store.cursor(ROUTE, Entity.CUSTOMER))

    counts = await run(tmp_path, store, erp, crm)

    # The pipeline overlapped: page 1's write was in flight while pages 2 to 4 were read,
    # written and bound, and page 4 was read only after pages 2 and 3 were handled.
    waiting = before(log, "write 1 returned")
    assert ("write 1 started", None) in waiting
    assert [e for e in waiting if e[0] in ("read", "pages handled")][-4:] == [
        ("pages handled", 1),
        ("pages handled", 2),
        ("read", 4),
        ("pages handled", 3),
    ]
    # ...and the cursor did not move meanwhile, neither in the store nor in any commit.
    assert at_return == [start]
    assert [e for e in waiting if e[0] == "cursor"] == []
    # Once page 1 returned, it moved past every page, in order.
    cursors = [value for name, value in log if name == "cursor"]
    assert cursors == sorted(cursors) and len(cursors) == PAGES
    assert store.cursor(ROUTE, Entity.CUSTOMER) == last > first
    assert counts.created == PAGE * PAGES and counts.failed == 0


async def test_a_page_that_fails_as_a_whole_is_never_passed_and_a_rerun_duplicates_nothing(
    tmp_path, store, cursor_log
):
    log = cursor_log
    erp, crm, start, first, last = systems(store, log)
    crm.failure = ConfigurationError("the CRM refused the object type")

    with pytest.raises(ConfigurationError):
        await run(tmp_path, store, erp, crm)

    # Pages 2 to 4 were written and bound, yet the cursor never passed page 1.
    assert ("pages handled", PAGES - 1) in before(log, "write 1 failed")
    assert [e for e in log if e[0] == "cursor"] == []
    assert store.cursor(ROUTE, Entity.CUSTOMER) == start < first
    assert len(crm.records(Entity.CUSTOMER)) == PAGE * (PAGES - 1)

    # The next run re-reads from before page 1: page 1 is created, the rest found unchanged.
    crm.failure = None
    erp.later_pages_handled = asyncio.Event()
    crm.release = asyncio.Event()
    counts = await run(tmp_path, store, erp, crm)
    assert (counts.created, counts.unchanged, counts.failed) == (PAGE, PAGE * (PAGES - 1), 0)
    assert len(crm.records(Entity.CUSTOMER)) == PAGE * PAGES
    assert store.cursor(ROUTE, Entity.CUSTOMER) == last


async def test_a_batch_failing_for_now_is_filed_in_failures_and_only_then_passed(
    tmp_path, store, cursor_log
):
    """A batch whose call failed for now does not fail its page: its records are durably
    handled as retryable failures (the daemon replays them), so the cursor may pass them —
    but still not before that write returned."""
    log = cursor_log
    erp, crm, _, _, last = systems(store, log)
    crm.failure = TransientError("503 after retries")

    counts = await run(tmp_path, store, erp, crm)

    assert [e for e in before(log, "write 1 failed") if e[0] == "cursor"] == []
    assert (counts.created, counts.failed) == (PAGE * (PAGES - 1), PAGE)
    filed = store.failures(route=ROUTE)
    assert sorted(f.external_id for f in filed) == sorted(crm.first_page)
    assert all(f.code == "BATCH_FAILED" and f.retryable for f in filed)
    assert store.cursor(ROUTE, Entity.CUSTOMER) == last
