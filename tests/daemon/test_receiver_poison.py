"""Poison isolation: an id the store cannot hold is a 4xx for its own request and nobody else's.

The issue this guards against: on PostgreSQL a validly signed HubSpot event whose id held a NUL
character got 503 forever, and the valid deliveries committed in the same group-commit batch got
503 with it. Here the real receiver app runs over ASGI on a real PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.hubspot.webhooks import HubSpotWebhookVerifier, sign_v3
from connector.daemon.app import ReceiverDeps, create_app, unstorable
from connector.daemon.ingest import GroupCommitter
from connector.errors import UnstorableError
from connector.state import schema
from connector.state.store import StateStore

SECRET = "poison-client-secret"
URL = "http://127.0.0.1/webhooks/crm"


def hubspot_delivery(object_id: str, property_name: str = "name") -> tuple[bytes, dict[str, str]]:
    """One HubSpot v3-signed delivery; our event id is built from the property name (among
    others), so a NUL there is a NUL in the event id."""
    event = {
        "eventId": 1,
        "subscriptionId": 1,
        "portalId": 33,
        "occurredAt": 1_700_000_000_000,
        "subscriptionType": "company.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "propertyName": property_name,
        "propertyValue": "x",
    }
    body = json.dumps([event]).encode()  # json escapes NUL and lone surrogates as \uXXXX
    stamp = str(int(time.time() * 1000))
    return body, {
        "content-type": "application/json",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", URL, body, stamp),
    }


def inbox_count(store: StateStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.inbox)).scalar_one())


@pytest.fixture
def receiver(pg_store: StateStore) -> httpx.AsyncClient:
    deps = ReceiverDeps(
        store=pg_store, verifiers={"crm": HubSpotWebhookVerifier([SecretStr(SECRET)])}
    )
    transport = httpx.ASGITransport(app=create_app(deps))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def test_a_nul_event_id_beside_300_valid_deliveries(receiver, pg_store) -> None:
    deliveries = [hubspot_delivery(str(n)) for n in range(1, 301)]
    deliveries.insert(150, hubspot_delivery("7", property_name="na\x00me"))
    async with receiver:
        responses = await asyncio.gather(
            *(receiver.post("/webhooks/crm", content=b, headers=h) for b, h in deliveries)
        )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 300, 400: 1}
    assert "NUL" in responses[150].json()["detail"]
    assert inbox_count(pg_store) == 300


async def test_a_lone_surrogate_in_an_id_is_400(receiver, pg_store) -> None:
    async with receiver:
        for body, headers in (
            hubspot_delivery("1", property_name="na\ud800me"),  # in the event id
            hubspot_delivery("\udc80"),  # in the record id
        ):
            response = await receiver.post("/webhooks/crm", content=body, headers=headers)
            assert response.status_code == 400
            assert "Unicode" in response.json()["detail"]
    assert inbox_count(pg_store) == 0


@pytest.mark.parametrize(
    ("value", "problem"),
    [("ok-1", None), ("a\x00", "NUL"), ("\ud83d", "Unicode"), ("", "1 to"), ("x" * 256, "1 to")],
)
def test_unstorable_names_the_problem(value: str, problem: str | None) -> None:
    found = unstorable(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


def row(event_id: str) -> dict[str, Any]:
    return {"source": "crm", "event_id": event_id, "entity": "customer", "external_id": "1"}


async def test_the_store_refusing_one_request_fails_only_that_request(pg_store) -> None:
    """Past the receiver's own checks: PostgreSQL itself refuses the NUL, in a batch shared with
    other requests, and only the request that carried it fails."""
    committer = GroupCommitter(pg_store.enqueue_new_events)
    requests = [[row(f"ok-{n}"), row(f"ok-{n}-b")] for n in range(40)]
    requests.insert(20, [row("bad-\x00"), row("fine-beside-bad")])
    results = await asyncio.gather(
        *(committer.submit(rows) for rows in requests), return_exceptions=True
    )
    assert isinstance(results[20], UnstorableError)
    assert [r for n, r in enumerate(results) if n != 20] == [2] * 40
    assert inbox_count(pg_store) == 80  # the bad request's rows are written all or nothing


async def test_a_store_outage_still_fails_the_whole_batch_at_once() -> None:
    calls: list[int] = []

    def down(rows):
        calls.append(len(rows))
        raise ConnectionError("store unreachable")

    committer = GroupCommitter(down)
    results = await asyncio.gather(
        *(committer.submit([row(str(n))]) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert len(calls) <= 2  # not retried request by request
