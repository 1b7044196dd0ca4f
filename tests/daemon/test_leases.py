"""Route leases on SQLite and PostgreSQL: one holder at a time, across processes' connections.

Each "daemon" here has its own `StateStore` (its own engine and connections) on one database,
as two processes would; the scheduler's runs take the lease the way `SyncService` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.daemon.scheduler import RouteScheduler
from connector.engine.summary import RunSummary
from connector.errors import LeaseHeldError
from connector.state.store import StateStore, open_store

TTL = dt.timedelta(seconds=60)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def stores(request, tmp_path: Path, clock) -> Iterator[list[StateStore]]:
    """Four stores on one database, like four daemons."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue(
            "pg_url" if request.param == "postgresql" else "mysql_database_url"
        )
    opened = [open_store(url, tmp_path, clock=clock) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def test_exactly_one_of_many_racing_holders_wins(stores) -> None:
    for round_number in range(5):
        barrier = threading.Barrier(len(stores))
        won: list[str] = []

        def race(
            store: StateStore, holder: str, lease: str, barrier: threading.Barrier, won: list[str]
        ) -> None:
            barrier.wait()
            if store.acquire_lease(lease, holder, TTL):
                won.append(holder)

        threads = [
            threading.Thread(
                target=race, args=(store, f"daemon-{n}", f"route:r{round_number}", barrier, won)
            )
            for n, store in enumerate(stores)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
        assert stores[0].lease_holder(f"route:r{round_number}") == won[0]


def test_a_crashed_holders_lease_expires(stores, clock) -> None:
    first, second = stores[:2]
    assert first.acquire_lease("route:r", "crashed", TTL)
    assert not second.acquire_lease("route:r", "other", TTL)
    clock.advance(59)
    assert not second.acquire_lease("route:r", "other", TTL)
    clock.advance(2)
    assert second.lease_holder("route:r") is None
    assert second.acquire_lease("route:r", "other", TTL)
    # The old holder coming back to life cannot take it back while it is live.
    assert not first.acquire_lease("route:r", "crashed", TTL)


def test_renewal_keeps_the_lease_and_release_frees_it(stores, clock) -> None:
    first, second = stores[:2]
    assert first.acquire_lease("route:r", "a", TTL)
    clock.advance(50)
    assert first.acquire_lease("route:r", "a", TTL)  # renewed: good for 60 s more
    clock.advance(50)
    assert not second.acquire_lease("route:r", "b", TTL)
    first.release_lease("route:r", "a")
    assert second.acquire_lease("route:r", "b", TTL)
    first.release_lease("route:r", "a")  # releasing someone else's lease does nothing
    assert second.lease_holder("route:r") == "b"


class LeasedRunner:
    """Runs a route under the store's lease, as `SyncService` does (a holder id per run, so
    two runs in one process exclude each other too); records overlaps."""

    active: dict[str, int] = {}
    overlaps: list[str] = []

    def __init__(self, store: StateStore, name: str, gate: asyncio.Event) -> None:
        self.store = store
        self.name = name
        self.gate = gate
        self.ran = 0

    async def run_route(self, route_name: str, *, trigger: str = "schedule") -> RunSummary:
        lease, holder = f"route:{route_name}", f"{self.name}:{uuid.uuid4().hex[:8]}"
        taken = await asyncio.to_thread(self.store.acquire_lease, lease, holder, TTL)
        if not taken:
            raise LeaseHeldError(f"{route_name} is busy")
        try:
            self.active[route_name] = self.active.get(route_name, 0) + 1
            if self.active[route_name] > 1:
                self.overlaps.append(route_name)
            self.ran += 1
            await self.gate.wait()
            return RunSummary(route_name, status="succeeded")
        finally:
            self.active[route_name] -= 1
            await asyncio.to_thread(self.store.release_lease, lease, holder)


async def test_two_daemons_never_run_one_route_at_once(stores) -> None:
    gate = asyncio.Event()
    LeasedRunner.active, LeasedRunner.overlaps = {}, []
    runners = [LeasedRunner(store, f"daemon-{n}", gate) for n, store in enumerate(stores[:2])]
    schedulers = [RouteScheduler(runner, {}) for runner in runners]
    attempts = [
        asyncio.create_task(scheduler.run_once(route))
        for route in ("orders", "customers")
        for scheduler in schedulers
        for _ in range(3)
    ]
    # Wait until one run per route holds its lease and every other attempt has been refused.
    for _ in range(1000):
        if sum(runner.ran for runner in runners) == 2 and sum(t.done() for t in attempts) == 10:
            break
        await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*attempts)
    assert LeasedRunner.overlaps == []
    assert sum(runner.ran for runner in runners) == 2  # one run per route
    assert sum(result is not None for result in results) == 2
    skipped = sum(
        count
        for scheduler in schedulers
        for (route, trigger, outcome), count in scheduler.metrics.runs.items()
        if outcome == "skipped"
    )
    assert skipped == 10
