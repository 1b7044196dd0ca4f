"""The state store behaves the same on SQLite and PostgreSQL (each test runs on both)."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.errors import RecordError
from connector.state.store import StateStore, StoreConflict

MINUTE = dt.timedelta(minutes=1)


def test_migrations_are_current_after_open(store: StateStore):
    assert store.migrations_current()
    assert store.ping()


def test_a_binding_is_unique_in_both_directions(store: StateStore):
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "A"})
    with store.transaction() as tx:  # rebinding the same key updates it
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "B"})
    assert store.bindings_for("customer", "crm", ["k1"])["k1"].snapshot == {"name": "B"}
    # The store's own error, naming the constraint (the engine fails that record alone).
    conflict = pytest.raises(StoreConflict, match=r"external_id|uq_bindings_external")
    with conflict, store.transaction() as tx:
        tx.bind("customer", "k2", "crm", "100")
    assert store.keys_for("customer", "crm", ["100"]) == {"100": "k1"}


def test_datetimes_come_back_aware_and_equal(store: StateStore):
    moment = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with store.transaction() as tx:
        tx.set_cursor("r", "customer", moment)
    assert store.cursor("r", "customer") == moment
    assert store.cursor("r", "customer").tzinfo is not None


def test_a_failure_counts_attempts_and_resolves(store: StateStore):
    for _ in range(3):
        with store.transaction() as tx:
            tx.record_failure(
                "r",
                "customer",
                "7",
                key=None,
                stage="push",
                error=RecordError("bad VAT id", code="VALIDATION"),
                payload={"vat": "x"},
                retryable=False,
            )
    [failure] = store.failures()
    assert (
        failure.attempts == 3 and failure.code == "VALIDATION" and failure.payload == {"vat": "x"}
    )
    with store.transaction() as tx:
        tx.resolve_failure("r", "customer", "7")
    assert store.failures() == []
    assert store.failures(status=None)[0].status == "resolved"


def test_awaiting_ids_are_one_route_entity_and_code_pending_only_and_start_a_run(
    store: StateStore,
):
    with store.transaction() as tx:
        for route, entity, external_id, code in [
            ("r", "customer", "1", "AWAITING"),
            ("r", "customer", "2", "REJECTED"),
            ("r", "contact", "3", "AWAITING"),
            ("other", "customer", "4", "AWAITING"),
            ("r", "customer", "5", "AWAITING"),
            ("r", "customer", "6", "AWAITING"),
        ]:
            tx.record_failure(
                route, entity, external_id, key=None, stage="push",
                error=RecordError("no", code=code), payload={"big": "x" * 100}, retryable=True,
            )  # fmt: skip
    with store.transaction() as tx:
        tx.resolve_failure("r", "customer", "5")
    awaiting = store.starting_point("r", "customer", cursor=False, awaiting_code="AWAITING")
    assert (awaiting.watermark, awaiting.awaiting) == (None, ["1", "6"])
    rejected = store.starting_point("r", "contact", cursor=False, awaiting_code="REJECTED")
    assert rejected.awaiting == []
    # What a run reads before pulling an entity: the same ids and the cursor, in one read.
    moment = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    with store.transaction() as tx:
        tx.set_cursor("r", "customer", moment)
    start = store.starting_point("r", "customer", cursor=True, awaiting_code="AWAITING")
    assert (start.watermark, start.awaiting) == (moment, ["1", "6"])
    start = store.starting_point("r", "contact", cursor=True, awaiting_code=None)
    assert (start.watermark, start.awaiting) == (None, [])
    start = store.starting_point("r", "customer", cursor=False, awaiting_code="REJECTED")
    assert (start.watermark, start.awaiting) == (None, ["2"])


def test_inbox_ignores_redelivered_events(store: StateStore):
    event = {"source": "crm", "event_id": "e1", "entity": "customer", "external_id": "5"}
    assert store.enqueue_events([event, {**event, "event_id": "e2"}]) == 2
    assert store.enqueue_events([event]) == 0
    claimed = store.claim_events(10)
    assert [e.event_id for e in claimed] == ["e1", "e2"]
    assert store.claim_events(10) == []
    store.complete_events([claimed[0].id])
    assert store.inbox_depth() == 1


def test_a_lease_excludes_others_until_released_or_expired(store: StateStore):
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    store.clock = lambda: now[0]
    assert store.acquire_lease("route:a", "one", MINUTE)
    assert not store.acquire_lease("route:a", "two", MINUTE)
    assert store.acquire_lease("route:a", "one", MINUTE), "the holder renews"
    now[0] += 2 * MINUTE
    assert store.lease_holder("route:a") is None
    assert store.acquire_lease("route:a", "two", MINUTE), "an expired lease is taken over"
    store.release_lease("route:a", "one")  # not the holder: no effect
    assert store.lease_holder("route:a") == "two"
    store.release_lease("route:a", "two")
    assert store.acquire_lease("route:a", "three", MINUTE)
