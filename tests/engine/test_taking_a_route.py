"""Taking a route's lease at the start of a run: free, held by a live process, or left behind
by a process that died on this host (taken over at once, without waiting for it to expire)."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector.engine.service import SyncService
from connector.errors import LeaseHeldError
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
}
LEASE = "route:erp-to-crm"
HOUR = dt.timedelta(hours=1)


def dead_holder() -> str:
    """A holder whose process ran on this host and has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    return f"{socket.gethostname()}:{int(child.stdout)}:deadbeef"


async def sync(tmp_path: Path) -> tuple[int, str | None]:
    """One run of the route over one customer: (customers in the CRM, the lease's holder)."""
    config = config_for(tmp_path, ROUTE, f"sqlite:///{tmp_path / 'state.db'}")
    store = open_store(config.state.url, tmp_path)
    erp, crm = MemoryAdapter("erp", MemorySettings()), MemoryAdapter("crm", MemorySettings())
    erp.put(Entity.CUSTOMER, {"number": "C1", "name": "Acme"})
    try:
        async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
            await SyncService(runtime).run_route("erp-to-crm")
    finally:
        holder = store.lease_holder(LEASE)
        store.close()
    return len(crm.data.entities.get(Entity.CUSTOMER, {})), holder


def hold(tmp_path: Path, holder: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    assert store.take_lease(LEASE, holder, HOUR) is not None
    store.close()


async def test_a_free_route_is_taken_and_let_go(tmp_path: Path) -> None:
    assert await sync(tmp_path) == (1, None)


async def test_a_lease_left_by_a_dead_process_here_is_taken_over_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hold(tmp_path, dead_holder())
    with caplog.at_level(logging.WARNING, logger="connector.engine"):
        assert await sync(tmp_path) == (1, None)
    assert "taking over the lease of a dead process" in caplog.text


async def test_a_lease_held_by_a_live_process_stops_the_run_and_names_it(tmp_path: Path) -> None:
    alive = f"{socket.gethostname()}:1:cafe"  # pid 1 is always there
    other = "elsewhere.example:4242:beef"  # another host: trusted until it expires
    for folder, holder in (("here", alive), ("away", other)):
        (tmp_path / folder).mkdir()
        hold(tmp_path / folder, holder)
        with pytest.raises(LeaseHeldError, match=holder):
            await sync(tmp_path / folder)
