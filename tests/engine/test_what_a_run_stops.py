"""What a run stops when something fails under it: everything once its lease is taken over
(and it says `lease lost`); only the records that need a call that failed (a lookup, a parent
read), which wait as retryable failures while the rest of the page goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from connector.engine.service import SyncService
from connector.errors import LeaseLostError
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import config_for

ROUTE = {
    "systems": {
        "erp": {"adapter": "memory", "settings": {}},
        "crm": {"adapter": "memory", "settings": {}},
    },
    "routes": [{"name": "erp-to-crm", "from": "erp", "to": "crm", "entities": ["customer"]}],
    "daemon": {"lease_seconds": 0.9},
}


@pytest.mark.parametrize("page_delay", [0.1, 1.0], ids=["at-its-next-write", "while-it-waits"])
async def test_a_run_that_loses_its_lease_stops_and_says_so(
    tmp_path: Path, page_delay: float
) -> None:
    config = config_for(tmp_path, ROUTE, f"sqlite:///{tmp_path / 'state.db'}")
    store = open_store(config.state.url, tmp_path)
    other = open_store(config.state.url, tmp_path)
    erp = MemoryAdapter("erp", MemorySettings(page_size=10, read_delay_seconds=page_delay))
    crm = MemoryAdapter("crm", MemorySettings(batch_size=10))
    for n in range(100):
        erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": f"Customer {n}"})

    async def take_over() -> None:
        # Another process steals the lease as if ours had run out (a long pause).
        await asyncio.sleep(0.35)
        with other.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE leases SET expires_at = '2000-01-01 00:00:00' "
                "WHERE name = 'route:erp-to-crm'"
            )
        assert other.take_lease("route:erp-to-crm", "thief", dt.timedelta(seconds=60))

    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        thief = asyncio.create_task(take_over())
        with pytest.raises(LeaseLostError):
            await SyncService(runtime).run_route("erp-to-crm")
        await thief
    written = len(crm.data.entities[Entity.CUSTOMER])
    assert written < 100
    run = store.last_runs(1)[0]
    assert run.status == "lease lost" and "lease" in (run.error or "")
    # Nothing committed after the takeover: the source side may be bound a page ahead of
    # the target, never the other way round.
    assert store.count_bindings("customer", "crm") <= written
    store.close()
    other.close()


async def test_a_failed_lookup_holds_back_only_the_records_that_need_it(tmp_path: Path) -> None:
    data = {
        **ROUTE,
        "routes": [{**ROUTE["routes"][0], "entities": {"customer": {"match": ["number"]}}}],
    }
    config = config_for(tmp_path, data, f"sqlite:///{tmp_path / 'state.db'}")
    store = open_store(config.state.url, tmp_path)
    erp = MemoryAdapter("erp", MemorySettings(page_size=50))
    crm = MemoryAdapter("crm", MemorySettings())
    first = {
        f"C{n:03d}": erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": "old"})
        for n in range(10)
    }
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        service = SyncService(runtime)
        await service.run_route("erp-to-crm")
        for number, record_id in first.items():
            erp.put(Entity.CUSTOMER, {"number": number, "name": "new"}, record_id)
        for n in range(10, 20):
            erp.put(Entity.CUSTOMER, {"number": f"C{n:03d}", "name": "new"})
        crm.fail_next_calls = 1  # the target's search for the unbound records fails
        summary = await service.run_route("erp-to-crm")
        counts = summary.entity(Entity.CUSTOMER)
        assert (counts.updated, counts.failed) == (10, 10)
        pending = store.failures()
        assert {f.stage for f in pending} == {"match"} and all(f.retryable for f in pending)
        assert [s.status for s in await service.retry_failures(pending)] == ["succeeded"]
    names = sorted(row.fields["name"] for row in crm.records(Entity.CUSTOMER))
    assert names == ["new"] * 20
    store.close()
