"""What a run keeps about the records it handled: its failures, not every record (issue 16)."""

from __future__ import annotations

from pathlib import Path

from connector.engine.route_run import RouteRun
from connector.engine.summary import RunSummary
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore
from connector.testing.memory import MemoryAdapter, MemorySettings, RejectRule
from tests.engine.helpers import config_for


def systems(*reject: RejectRule) -> tuple[MemoryAdapter, MemoryAdapter]:
    erp = MemoryAdapter("erp", MemorySettings(batch_size=10, page_size=25))
    crm = MemoryAdapter("crm", MemorySettings(batch_size=10, page_size=25, reject=list(reject)))
    customers = [
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})
        for n in range(60)
    ]
    for m in range(2):  # a customer's two contacts come in different pages
        for n, customer in enumerate(customers):
            erp.put(
                Entity.CONTACT,
                {"email": f"p{n}.{m}@example.com", "last_name": "P", "customer": customer},
            )
    return erp, crm


async def first_sync(
    tmp_path: Path,
    store: StateStore,
    erp: MemoryAdapter,
    crm: MemoryAdapter,
    entities: tuple[Entity, ...] = (Entity.CONTACT, Entity.CUSTOMER),
) -> tuple[RouteRun, RunSummary]:
    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        summary = RunSummary("erp-to-crm")
        run = RouteRun(runtime, config.routes["erp-to-crm"], summary)
        # Contacts first: each page syncs its customers as parents on the way.
        for entity in entities:
            await run.sync_entity(entity)
    return run, summary


async def test_a_run_forgets_the_records_it_synced(tmp_path, store):
    erp, crm = systems()
    run, summary = await first_sync(tmp_path, store, erp, crm)

    assert summary.counts[Entity.CUSTOMER].created == 60
    assert summary.counts[Entity.CONTACT].created == 120
    assert run._handled == set()  # was 180 entries: one per record, for a run of any size


async def test_a_parent_that_failed_is_still_tried_once_not_once_per_child(tmp_path, store):
    erp, crm = systems(RejectRule(field="number", value="C007"))
    run, summary = await first_sync(tmp_path, store, erp, crm, (Entity.CONTACT,))

    assert summary.counts[Entity.CUSTOMER].failed == 1  # not again for its second contact
    assert summary.counts[Entity.CUSTOMER].created == 59
    # What the run still remembers: the failed customer and its two contacts (which failed
    # for want of it), nothing that synced.
    [rejected] = [r for r in erp.records(Entity.CUSTOMER) if r.fields["number"] == "C007"]
    orphans = [r for r in erp.records(Entity.CONTACT) if r.fields["customer"] == rejected.id]
    assert summary.counts[Entity.CONTACT].failed == 2
    assert run._handled == {(Entity.CUSTOMER, rejected.id)} | {
        (Entity.CONTACT, orphan.id) for orphan in orphans
    }
