"""1,000 signed events with 30 % duplicate deliveries, shuffled: each change applied once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
from sqlalchemy import func, select

from connector.daemon.app import ReceiverDeps, create_app
from connector.daemon.inbox import InboxWorker, RouteTarget
from connector.engine.summary import RunSummary
from connector.model import Entity
from connector.state import schema

ENTITIES = ["customer", "contact", "sale"]


class CountingSync:
    def __init__(self) -> None:
        self.applied: Counter[tuple[Entity, str]] = Counter()

    async def sync_ids(self, route_name, entity, external_ids, *, trigger="webhook"):
        for external_id in external_ids:
            self.applied[(entity, external_id)] += 1
        return RunSummary(route_name, status="succeeded")


async def test_thousand_events_thirty_percent_redelivered(
    sqlite_store, verifier, clock, deliver, change_body
) -> None:
    rng = random.Random(7)
    changes = [(f"msg_{n}", ENTITIES[n % 3], str(n)) for n in range(1000)]
    deliveries = changes + rng.sample(changes, 300)
    rng.shuffle(deliveries)

    deps = ReceiverDeps(store=sqlite_store, verifiers={"erp": verifier}, clock=clock)
    transport = httpx.ASGITransport(app=create_app(deps))
    accepted = duplicates = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:

        async def post(message_id: str, entity: str, record_id: str) -> httpx.Response:
            raw, headers = deliver(message_id, change_body(entity, record_id), at=clock())
            return await http.post("/webhooks/erp", content=raw, headers=headers)

        # 25 in flight at a time, so redeliveries also meet their original in one group commit.
        for start in range(0, len(deliveries), 25):
            clock.advance(0.5)  # every attempt is signed afresh, as a sender's retry is
            responses = await asyncio.gather(*(post(*d) for d in deliveries[start : start + 25]))
            for response in responses:
                assert response.status_code == 202
                accepted += response.json()["accepted"]
                duplicates += response.json()["duplicates"]
    assert (accepted, duplicates) == (1000, 300)

    with sqlite_store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(schema.inbox)).scalar_one()
    assert rows == 1000

    sync = CountingSync()
    route = RouteTarget("erp_to_crm", "erp", frozenset(Entity))
    worker = InboxWorker(sqlite_store, sync, [route], batch_size=128)
    while await worker.drain_once():
        pass
    expected = {(Entity(entity), record_id) for _, entity, record_id in changes}
    assert set(sync.applied) == expected
    assert set(sync.applied.values()) == {1}
    assert sqlite_store.inbox_depth() == 0
