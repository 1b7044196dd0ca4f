"""How many store transactions a page of records costs, and what each one holds.

A page's results are bound in one transaction once its last batch returned, where the target's
upsert finds a record it created before (`Capabilities.upsert_matches`: a replayed create is an
update); elsewhere one per batch, as the write returns. Either way a batch whose call stops the
run does not keep its neighbours' answers from the store. Counted by watching `StoreTx.bind`
and `StoreTx.record_failure`: which transaction each call was made in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import event

from connector.adapter import NativeWrite, WriteResult
from connector.engine.service import SyncService
from connector.errors import ConfigurationError, TransientError
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import TransactionLog, config_for

ROUTE = "erp-to-crm"
#: One page of 25 customers, written in batches of 10: three batches.
RECORDS, PAGE, BATCH = 25, 25, 10


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> TransactionLog:
    return TransactionLog.watch(monkeypatch)


class Target(MemoryAdapter):
    """The CRM: the batch holding `failing` raises `failure` instead of writing."""

    def __init__(self, *, replays_as_updates: bool = True) -> None:
        super().__init__("crm", MemorySettings(batch_size=BATCH, max_in_flight=2))
        if not replays_as_updates:  # its upsert finds nothing by itself: creates are creates
            self.capabilities = dataclasses.replace(self.capabilities, upsert_matches={})
        self.failing: str | None = None
        self.failure: Exception | None = None

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        if self.failure is not None and any(w.source_id == self.failing for w in writes):
            raise self.failure
        return await super().upsert(entity, writes)


def erp_with_customers() -> MemoryAdapter:
    erp = MemoryAdapter("erp", MemorySettings(page_size=PAGE))
    for n in range(RECORDS):
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})
    return erp


def in_read_order(erp: MemoryAdapter) -> list[str]:
    rows = sorted(erp.records(Entity.CUSTOMER), key=lambda row: (row.updated_at, row.id))
    return [row.id for row in rows]


async def sync(tmp_path: Path, store: StateStore, erp: MemoryAdapter, crm: Target):  # type: ignore[no-untyped-def]
    async with Runtime.open(config_for(tmp_path), store=store, erp=erp, crm=crm) as runtime:
        return await SyncService(runtime).run_route(ROUTE, entities=[Entity.CUSTOMER])


async def test_a_pages_results_are_bound_in_one_transaction(tmp_path, store, transactions):
    erp, crm = erp_with_customers(), Target()

    summary = await sync(tmp_path, store, erp, crm)

    assert summary.counts[Entity.CUSTOMER].created == RECORDS
    assert crm.write_calls == 3  # three batches...
    assert transactions.binding("crm") == [RECORDS]  # ...bound together
    assert transactions.binding("erp") == [RECORDS]  # the source side, before the write
    assert store.count_bindings(Entity.CUSTOMER, "crm") == RECORDS


async def test_where_a_replayed_create_would_be_a_create_each_batch_is_bound_as_it_returns(
    tmp_path, store, transactions
):
    erp, crm = erp_with_customers(), Target(replays_as_updates=False)

    summary = await sync(tmp_path, store, erp, crm)

    assert summary.counts[Entity.CUSTOMER].created == RECORDS
    assert sorted(transactions.binding("crm")) == [5, 10, 10]


async def test_batches_failing_for_now_are_filed_with_the_pages_successes(
    tmp_path, store, transactions
):
    erp, crm = erp_with_customers(), Target()
    crm.failing = in_read_order(erp)[12]  # in the second batch
    crm.failure = TransientError("503 after retries")

    summary = await sync(tmp_path, store, erp, crm)

    counts = summary.counts[Entity.CUSTOMER]
    assert (counts.created, counts.failed) == (RECORDS - BATCH, BATCH)
    # One transaction: fifteen bindings and the ten failures.
    assert transactions.binding("crm") == [RECORDS - BATCH]
    assert transactions.filing() == [BATCH]
    assert len(store.failures(route=ROUTE)) == BATCH


@pytest.mark.parametrize("replays_as_updates", [True, False])
async def test_a_batch_that_stops_the_run_leaves_its_neighbours_bound_and_the_cursor_unmoved(
    tmp_path, store, replays_as_updates
):
    erp, crm = erp_with_customers(), Target(replays_as_updates=replays_as_updates)
    crm.failing = in_read_order(erp)[12]
    crm.failure = ConfigurationError("the CRM refused the object type")

    with pytest.raises(ConfigurationError):
        await sync(tmp_path, store, erp, crm)

    # The two other batches were written: both are bound, so a rerun finds them unchanged.
    written = len(crm.records(Entity.CUSTOMER))
    assert written == RECORDS - BATCH
    assert store.count_bindings(Entity.CUSTOMER, "crm") == written
    assert store.cursor(ROUTE, Entity.CUSTOMER) is None

    crm.failure = None
    summary = await sync(tmp_path, store, erp, crm)
    counts = summary.counts[Entity.CUSTOMER]
    assert (counts.created, counts.unchanged, counts.failed) == (BATCH, RECORDS - BATCH, 0)
    assert len(crm.records(Entity.CUSTOMER)) == RECORDS


async def test_a_page_of_unchanged_records_begins_no_store_transaction(tmp_path, store):
    """A page read again and found unchanged (the overlap window's; every record of a run that
    changed nothing) has only pending failures to resolve, and its route has none: it writes
    nothing, so it begins no transaction — no fence row written, no commit."""
    erp, crm = erp_with_customers(), Target()
    await sync(tmp_path, store, erp, crm)
    statements: list[str] = []
    commits: list[object] = []

    def statement(_conn, _cursor, text, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(text.split()).lower())

    def commit(conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(conn)

    event.listen(store.engine, "before_cursor_execute", statement)
    event.listen(store.engine, "commit", commit)
    try:
        summary = await sync(tmp_path, store, erp, crm)
    finally:
        event.remove(store.engine, "before_cursor_execute", statement)
        event.remove(store.engine, "commit", commit)

    counts = summary.counts[Entity.CUSTOMER]
    assert counts.unchanged >= 1 and (counts.created, counts.updated) == (0, 0)
    assert [text for text in statements if "token=leases.token" in text] == []  # no fence
    assert len(commits) == 2  # the run's start and its end, nothing between
    assert any(text.startswith("select exists") for text in statements)  # failures: asked
