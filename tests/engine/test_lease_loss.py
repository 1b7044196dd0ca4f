"""A run whose lease is taken over mid-run stops, commits nothing more and ends `lease lost`."""

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
