"""The inbox worker: collapse, routing, retry with backoff on a fake clock, final failure."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from connector.daemon.inbox import Backoff, InboxWorker, RouteTarget, group_events
from connector.engine.summary import EntityCounts, RunSummary
from connector.errors import LeaseHeldError, TransientError
from connector.model import Entity
from connector.state import schema
from connector.state.store import InboxEvent, StateStore

ROUTES = [
    RouteTarget("erp_to_crm", "erp", frozenset({Entity.CUSTOMER, Entity.CONTACT})),
    RouteTarget("erp_to_other", "erp", frozenset({Entity.CUSTOMER})),
    RouteTarget("crm_to_erp", "crm", frozenset({Entity.CUSTOMER, Entity.SALE})),
]


class FakeSync:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.calls: list[tuple[str, Entity, list[str], str]] = []
        self.failures = list(failures or [])

    async def sync_ids(self, route_name, entity, external_ids, *, trigger="webhook"):
        self.calls.append((route_name, entity, list(external_ids), trigger))
        if self.failures:
            raise self.failures.pop(0)
        summary = RunSummary(route_name, status="succeeded")
        summary.counts[entity] = EntityCounts(updated=len(external_ids))
        return summary


def event(n: int, source: str, entity: str, external_id: str) -> InboxEvent:
    return InboxEvent(n, source, f"e{n}", entity, external_id, False, None, 1)


def enqueue(store: StateStore, *items: tuple[str, str, str, str]) -> None:
    store.enqueue_events(
        [
            {"source": s, "event_id": e, "entity": entity, "external_id": x}
            for s, e, entity, x in items
        ]
    )


def statuses(store: StateStore) -> dict[str, tuple[str, int, str | None]]:
    table = schema.inbox
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.event_id, table.c.status, table.c.attempts, table.c.error)
        )
        return {row.event_id: (row.status, row.attempts, row.error) for row in rows}


def test_group_events_collapses_and_routes() -> None:
    events = [
        event(1, "erp", "customer", "42"),
        event(2, "erp", "customer", "42"),
        event(3, "erp", "customer", "7"),
        event(4, "erp", "contact", "42"),
        event(5, "crm", "customer", "42"),
        event(6, "erp", "sale", "1"),
        event(7, "erp", "planet", "1"),
    ]
    groups = {(g.source, g.entity): g for g in group_events(events, ROUTES)}
    customers = groups[("erp", Entity.CUSTOMER)]
    assert customers.external_ids == ("42", "7")
    assert [e.id for e in customers.events] == [1, 2, 3]
    assert customers.routes == ("erp_to_crm", "erp_to_other")
    assert groups[("erp", Entity.CONTACT)].routes == ("erp_to_crm",)
    assert groups[("crm", Entity.CUSTOMER)].routes == ("crm_to_erp",)
    assert groups[("erp", Entity.SALE)].routes == ()
    assert groups[("erp", None)].routes == ()


def test_backoff_grows_caps_and_ends() -> None:
    backoff = Backoff(base_seconds=2, cap_seconds=60, max_attempts=6)
    low = [backoff.delay(n, rng=lambda: 0.0) for n in range(1, 7)]
    high = [backoff.delay(n, rng=lambda: 1.0) for n in range(1, 7)]
    assert low == [1.0, 2.0, 4.0, 8.0, 16.0, None]
    assert high == [2.0, 4.0, 8.0, 16.0, 32.0, None]
    assert Backoff(base_seconds=2, cap_seconds=60, max_attempts=20).delay(12, rng=lambda: 1) == 60


async def test_same_record_collapses_into_one_sync(sqlite_store) -> None:
    enqueue(
        sqlite_store,
        ("erp", "a", "customer", "42"),
        ("erp", "b", "customer", "42"),
        ("erp", "c", "customer", "42"),
        ("erp", "d", "customer", "7"),
    )
    sync = FakeSync()
    worker = InboxWorker(sqlite_store, sync, ROUTES[:1])
    assert await worker.drain_once() == 4
    assert sync.calls == [("erp_to_crm", Entity.CUSTOMER, ["42", "7"], "webhook")]
    assert {s for s, _, _ in statuses(sqlite_store).values()} == {"done"}
    assert await worker.drain_once() == 0
    assert worker.metrics.records[("erp_to_crm", "updated")] == 2


async def test_every_route_reading_the_entity_is_synced(sqlite_store) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"), ("crm", "b", "sale", "9"))
    sync = FakeSync()
    await InboxWorker(sqlite_store, sync, ROUTES).drain_once()
    assert sorted((r, e, ids) for r, e, ids, _ in sync.calls) == [
        ("crm_to_erp", Entity.SALE, ["9"]),
        ("erp_to_crm", Entity.CUSTOMER, ["1"]),
        ("erp_to_other", Entity.CUSTOMER, ["1"]),
    ]


async def test_events_no_route_takes_are_completed(sqlite_store) -> None:
    enqueue(sqlite_store, ("erp", "a", "sale", "1"))
    sync = FakeSync()
    worker = InboxWorker(sqlite_store, sync, ROUTES)
    await worker.drain_once()
    assert sync.calls == []
    assert statuses(sqlite_store)["a"][0] == "done"
    assert worker.metrics.inbox_outcomes["ignored"] == 1


async def test_failed_sync_is_retried_after_backoff(sqlite_store, clock) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    sync = FakeSync([TransientError("ERP timed out")])
    worker = InboxWorker(
        sqlite_store, sync, ROUTES[:1], backoff=Backoff(base_seconds=10), rng=lambda: 1.0
    )
    await worker.drain_once()
    status, attempts, error = statuses(sqlite_store)["a"]
    assert (status, attempts) == ("pending", 1)
    assert error == "TransientError: ERP timed out"
    clock.advance(9.9)
    assert await worker.drain_once() == 0  # not due yet
    clock.advance(0.2)
    assert await worker.drain_once() == 1
    assert statuses(sqlite_store)["a"][:2] == ("done", 2)
    assert len(sync.calls) == 2


async def test_events_that_keep_failing_end_in_failures(sqlite_store, clock) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"), ("erp", "b", "customer", "1"))
    sync = FakeSync([TransientError("down")] * 10)
    worker = InboxWorker(
        sqlite_store, sync, ROUTES[:1], backoff=Backoff(base_seconds=1, max_attempts=3)
    )
    for _ in range(3):
        await worker.drain_once()
        clock.advance(3600)
    assert await worker.drain_once() == 0
    assert len(sync.calls) == 3
    assert {v[0] for v in statuses(sqlite_store).values()} == {"failed"}
    [failure] = sqlite_store.failures(route="erp_to_crm")
    assert (failure.entity, failure.external_id, failure.stage) == ("customer", "1", "webhook")
    assert failure.error_class == "TransientError" and failure.message == "down"
    assert worker.metrics.inbox_outcomes["failed"] == 2


async def test_unexpected_errors_are_named_by_class_only(sqlite_store) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    sync = FakeSync([RuntimeError("postgresql://user:secret@db/x refused")])
    await InboxWorker(sqlite_store, sync, ROUTES[:1]).drain_once()
    assert statuses(sqlite_store)["a"][2] == "RuntimeError"


async def test_lease_held_retries_soon_without_giving_up(sqlite_store, clock) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    sync = FakeSync([LeaseHeldError("busy")] * 12)
    worker = InboxWorker(
        sqlite_store, sync, ROUTES[:1], backoff=Backoff(max_attempts=3, busy_seconds=1)
    )
    for _ in range(13):
        await worker.drain_once()
        clock.advance(1)
    assert statuses(sqlite_store)["a"][0] == "done"
    assert sqlite_store.failures() == []


async def test_run_requeues_stale_events_and_stops_when_told(sqlite_store) -> None:
    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    sqlite_store.claim_events()  # a previous process died holding it
    sync = FakeSync()
    worker = InboxWorker(sqlite_store, sync, ROUTES[:1], poll_seconds=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if sync.calls:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert sync.calls == [("erp_to_crm", Entity.CUSTOMER, ["1"], "webhook")]


async def test_wake_cuts_the_poll_wait_short(sqlite_store) -> None:
    sync = FakeSync()
    worker = InboxWorker(sqlite_store, sync, ROUTES[:1], poll_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.05)
    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    worker.wake()
    for _ in range(100):
        if sync.calls:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(sync.calls) == 1


@pytest.mark.parametrize("claimed", [1, 3])
async def test_worker_survives_store_errors(sqlite_store, claimed) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.n = 0

        def __getattr__(self, name):
            return getattr(sqlite_store, name)

        def claim_events(self, limit=100):
            self.n += 1
            if self.n <= claimed:
                raise OSError("database is locked")
            return sqlite_store.claim_events(limit)

    enqueue(sqlite_store, ("erp", "a", "customer", "1"))
    sync = FakeSync()
    worker = InboxWorker(Flaky(), sync, ROUTES[:1], poll_seconds=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if sync.calls:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(sync.calls) == 1


async def test_one_worker_drains_and_a_dead_ones_events_are_taken_over(sqlite_store, clock):
    enqueue(sqlite_store, ("erp", "a", "customer", "1"), ("erp", "b", "customer", "2"))
    first = InboxWorker(sqlite_store, FakeSync(), ROUTES[:1], holder="first")
    second_sync = FakeSync()
    second = InboxWorker(sqlite_store, second_sync, ROUTES[:1], holder="second")
    assert await first.hold_lease()
    sqlite_store.claim_events(limit=1)  # "first" claims event a, then dies without finishing
    assert not await second.hold_lease()  # a live holder's claims are left alone
    assert statuses(sqlite_store)["a"][0] == "processing"
    clock.advance(121)  # the dead holder's lease runs out
    assert await second.hold_lease()  # taking it over puts a back
    assert statuses(sqlite_store)["a"][0] == "pending"
    assert await second.drain_once() == 2
    assert sorted(ids for _, _, ids, _ in second_sync.calls) == [["1", "2"]]


async def test_a_stopping_worker_hands_the_inbox_over(sqlite_store) -> None:
    first = InboxWorker(sqlite_store, FakeSync(), ROUTES[:1], holder="first", poll_seconds=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    for _ in range(200):
        if sqlite_store.lease_holder("inbox-worker") == "first":
            break
        await asyncio.sleep(0.01)
    assert sqlite_store.lease_holder("inbox-worker") == "first"
    stop.set()
    await asyncio.wait_for(task, 2)
    assert sqlite_store.lease_holder("inbox-worker") is None
    second = InboxWorker(sqlite_store, FakeSync(), ROUTES[:1], holder="second")
    assert await second.hold_lease()
