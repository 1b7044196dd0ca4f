"""Outgoing webhooks (signature v3, batching, retries) and seeded fault injection."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from adapters.hubspot.sandbox import ManualClock, create_app, sign_v3

SECRET = "app-client-secret"
TARGET = "https://receiver.example/hooks/hubspot?portal=1&x=a%3Ab"


def independent_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Signature v3 written from the reference text (hubspot.md §8.4), not from the sandbox."""
    for escaped, plain in [("%3A", ":"), ("%2F", "/"), ("%3F", "?"), ("%40", "@"), ("%21", "!"),
                           ("%24", "$"), ("%27", "'"), ("%28", "("), ("%29", ")"), ("%2A", "*"),
                           ("%2C", ","), ("%3B", ";")]:  # fmt: skip
        uri = uri.replace(escaped, plain)
    source = (method + uri).encode("utf-8") + body + timestamp.encode("utf-8")
    mac = hmac.new(secret.encode("utf-8"), source, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class Receiver:
    """A webhook endpoint that fails the first `failures` deliveries."""

    def __init__(self, failures: int = 0, status: int = 500) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            return httpx.Response(self.status)
        return httpx.Response(204)


def _app(clock: ManualClock, receiver: Receiver, **hooks: Any) -> Any:
    webhooks = {"target_url": TARGET, "client_secret": SECRET, "batch_window_ms": 0,
                "retry_delays_s": [0.0, 0.0, 0.0], **hooks}  # fmt: skip
    return create_app(
        clock=clock, webhook_transport=httpx.MockTransport(receiver), webhooks=webhooks
    )


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://hs",
        headers={"Authorization": "Bearer sandbox-token"},
    )


async def test_ui_edit_sends_signed_v3_batch(clock: ManualClock) -> None:
    receiver = Receiver()
    app = _app(clock, receiver)
    async with await _client(app) as hs:
        created = (
            await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})
        ).json()
        clock.advance(60_000)
        edit = {"properties": {"name": "A2", "city": "Berlin"}}
        edited = await hs.patch(f"/_sandbox/ui/companies/{created['id']}", json=edit)
        assert edited.status_code == 200
        read = (await hs.get(f"/crm/v3/objects/companies/{created['id']}")).json()
        assert read["properties"]["hs_lastmodifieddate"] == "2026-01-01T00:01:00.000Z"
        await app.state.sandbox.webhooks.drain()
    assert receiver.requests
    events: list[dict[str, Any]] = []
    for request in receiver.requests:
        body = request.content
        timestamp = request.headers["X-HubSpot-Request-Timestamp"]
        assert int(timestamp) == clock.now_ms()
        expected = independent_v3(SECRET, "POST", str(request.url), body, timestamp)
        assert hmac.compare_digest(expected, request.headers["X-HubSpot-Signature-v3"])
        v1 = hashlib.sha256(SECRET.encode() + body).hexdigest()
        assert request.headers["X-HubSpot-Signature"] == v1
        assert request.headers["X-HubSpot-Signature-Version"] == "v1"
        batch = json.loads(body)
        assert isinstance(batch, list)
        events += batch
    changes = [e for e in events if e["subscriptionType"] == "company.propertyChange"]
    assert {(e["propertyName"], e["propertyValue"]) for e in changes} == {
        ("name", "A2"), ("city", "Berlin")}  # fmt: skip
    for event in changes:
        assert event["changeSource"] == "CRM_UI"
        assert event["objectId"] == int(created["id"])
        assert event["attemptNumber"] == 0 and event["occurredAt"] == clock.now_ms()
        assert {"eventId", "subscriptionId", "portalId", "appId"} <= set(event)
    creation = [e for e in events if e["subscriptionType"] == "company.creation"]
    assert len(creation) == 1 and creation[0]["changeSource"] == "INTEGRATION"
    assert len({e["eventId"] for e in events}) == len(events)


def test_signature_independent_implementation_detects_tampering() -> None:
    body, stamp = b'[{"objectId":1}]', "1767225600000"
    good = independent_v3(SECRET, "POST", TARGET, body, stamp)
    assert good == sign_v3(SECRET, "POST", TARGET, body, stamp)
    assert good != sign_v3(SECRET, "POST", TARGET, body + b" ", stamp)
    assert good != sign_v3("other", "POST", TARGET, body, stamp)
    decoded = TARGET.replace("%3A", ":")
    assert good == sign_v3(SECRET, "POST", decoded, body, stamp)


async def test_failed_deliveries_are_retried_with_attempt_numbers(clock: ManualClock) -> None:
    receiver = Receiver(failures=2, status=503)
    app = _app(clock, receiver)
    async with await _client(app) as hs:
        await hs.post("/_sandbox/ui/contacts", json={"properties": {"email": "a@b.io"}})
        log = (await hs.post("/_sandbox/webhooks/flush")).json()
    attempts = [json.loads(r.content)[0]["attemptNumber"] for r in receiver.requests]
    assert attempts == [0, 1, 2]
    assert [a["status"] for a in log["attempts"]] == [503, 503, 204]
    assert log["delivered"][0][0]["subscriptionType"] == "contact.creation"


async def test_delivery_gives_up_after_the_configured_attempts(clock: ManualClock) -> None:
    receiver = Receiver(failures=99, status=400)
    app = _app(clock, receiver)
    async with await _client(app) as hs:
        record = (
            await hs.post("/_sandbox/ui/deals", json={"properties": {"dealname": "D"}})
        ).json()
        await hs.delete(f"/_sandbox/ui/deals/{record['id']}")
        log = (await hs.post("/_sandbox/webhooks/flush")).json()
    assert len(receiver.requests) == 4  # first try + 3 retries
    kinds = {e["subscriptionType"] for e in log["abandoned"][0]}
    assert kinds == {"deal.creation", "deal.deletion"}


async def test_events_are_batched_at_most_100(clock: ManualClock) -> None:
    receiver = Receiver()
    app = _app(clock, receiver, max_batch=100)
    async with await _client(app) as hs:
        inputs = [{"properties": {"name": f"C{n}"}} for n in range(100)]
        await hs.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
        await hs.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs[:30]})
        await app.state.sandbox.webhooks.drain()
    sizes = sorted(len(json.loads(r.content)) for r in receiver.requests)
    assert sum(sizes) == 130 and max(sizes) <= 100


async def _statuses(seed: int, count: int) -> list[int]:
    rates = {"rate_limited": 0.1, "internal_error": 0.1, "bad_gateway": 0.1,
             "origin_timeout": 0.1, "locked": 0.05, "migrating": 0.05}  # fmt: skip
    app = create_app(clock=ManualClock(), faults=rates, seed=seed, limits_enabled=False)
    async with await _client(app) as hs:
        return [(await hs.get("/crm/v3/objects/companies")).status_code for _ in range(count)]


async def test_faults_are_deterministic_per_seed() -> None:
    first = await _statuses(7, 60)
    assert first == await _statuses(7, 60)
    assert first != await _statuses(8, 60)
    assert {429, 500, 502, 524, 423, 477} <= set(first) | set(await _statuses(8, 60))
    assert 200 in first


async def test_fault_bodies_and_headers(clock: ManualClock) -> None:
    app = create_app(clock=clock)
    sandbox = app.state.sandbox
    async with await _client(app) as hs:
        sandbox.update_switches({"faults": {"migrating": 1.0}})
        migrating = await hs.get("/crm/v3/objects/companies")
        assert migrating.status_code == 477 and migrating.headers["Retry-After"] == "30"
        sandbox.update_switches({"faults": {"origin_timeout": 1.0}})
        edge = await hs.get("/crm/v3/objects/companies")
        assert edge.status_code == 524 and edge.headers["content-type"].startswith("text/html")
        sandbox.update_switches({"faults": {"rate_limited": 1.0}})
        limited = await hs.get("/crm/v3/objects/companies")
        assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        sandbox.update_switches({"faults": {"stall": 1.0}, "stall_seconds": 0.01})
        stalled = await hs.get("/crm/v3/objects/companies")
        assert stalled.status_code == 524
        log = (await hs.get("/_sandbox/requests")).json()["results"]
        assert [e["fault"] for e in log] == ["migrating", "origin_timeout", "rate_limited", "stall"]


async def test_connection_reset_loses_the_reply_not_the_write(clock: ManualClock) -> None:
    app = create_app(clock=clock, faults={"connection_reset": 1.0})
    async with await _client(app) as hs:
        with pytest.raises(ConnectionResetError):
            await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})
        dump = (await hs.get("/_sandbox/objects/companies")).json()
    assert dump["total"] == 1


def test_fault_rates_over_one_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        create_app(faults={"internal_error": 0.6, "bad_gateway": 0.6})


async def test_a_hanging_receiver_never_holds_up_the_api(clock: ManualClock) -> None:
    release = asyncio.Event()
    calls: list[httpx.Request] = []

    async def hanging(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        await release.wait()
        return httpx.Response(204)

    webhooks = {"target_url": TARGET, "batch_window_ms": 0}
    app = create_app(clock=clock, webhook_transport=httpx.MockTransport(hanging), webhooks=webhooks)
    async with await _client(app) as hs:
        for n in range(3):
            response = await asyncio.wait_for(
                hs.post("/_sandbox/ui/companies", json={"properties": {"name": f"C{n}"}}), 1.0
            )
            assert response.status_code == 201
            await asyncio.sleep(0)
        for _ in range(200):  # let the background delivery reach the receiver
            if calls:
                break
            await asyncio.sleep(0.001)
        assert calls  # a delivery is in flight, hanging, while the API kept answering
        release.set()
        await app.state.sandbox.webhooks.drain()
    assert sum(len(json.loads(r.content)) for r in calls) == 3
