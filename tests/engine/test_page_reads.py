"""How many queries a page of records reads the bindings with.

A page of updates on a route that keeps the source's snapshots (its source is another route's
target) needs each record's key and both sides' bindings: the source's are read by external id,
with the keys, and the target's of those keys joined to them — one query a page, whatever its
length. Counted by
watching the SELECTs on `bindings` that the store's engine sends, on each store the suite runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import config_for

RECORDS = 20


class Reads:
    """The SELECTs on the bindings table, counted while `counting`."""

    def __init__(self) -> None:
        self.counting = False
        self.count = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        text = " ".join(statement.split()).lower()
        if self.counting and text.startswith("select") and " from bindings" in text:
            self.count += 1


@pytest.fixture
def reads(store: StateStore) -> Iterator[Reads]:
    watch = Reads()
    event.listen(store.engine, "before_cursor_execute", watch)
    yield watch
    event.remove(store.engine, "before_cursor_execute", watch)


async def sync(tmp_path: Path, store: StateStore, erp: MemoryAdapter, crm: MemoryAdapter):  # type: ignore[no-untyped-def]
    async with Runtime.open(config_for(tmp_path), store=store, erp=erp, crm=crm) as runtime:
        return await SyncService(runtime).run_route("erp-to-crm", entities=[Entity.CUSTOMER])


async def test_a_page_of_updates_reads_its_bindings_with_one_query(
    tmp_path: Path, store: StateStore, reads: Reads
) -> None:
    erp = MemoryAdapter("erp", MemorySettings(page_size=RECORDS))
    crm = MemoryAdapter("crm", MemorySettings(batch_size=RECORDS))
    ids = [
        erp.put(Entity.CUSTOMER, {"number": f"C{n}", "name": f"Customer {n}"})
        for n in range(RECORDS)
    ]
    await sync(tmp_path, store, erp, crm)
    for n, record_id in enumerate(ids):
        erp.put(Entity.CUSTOMER, {"name": f"Renamed {n}"}, record_id)

    reads.counting = True
    summary = await sync(tmp_path, store, erp, crm)

    assert summary.counts[Entity.CUSTOMER].updated == RECORDS
    assert reads.count == 1  # the source's bindings with their keys and the target's
    names = {row.fields["name"] for row in crm.records(Entity.CUSTOMER)}
    assert names == {f"Renamed {n}" for n in range(RECORDS)}
    # Both sides hold what was synced: the source's snapshot is the one the plan compared.
    keys = store.keys_for(Entity.CUSTOMER, "erp", ids)
    for side in ("erp", "crm"):
        bound = store.bindings_for(Entity.CUSTOMER, side, keys.values())
        assert {b.snapshot["name"] for b in bound.values() if b.snapshot} == names, side
