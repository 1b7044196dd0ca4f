"""The adapter against the HubSpot sandbox, in process through httpx.ASGITransport."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.sandbox import ManualClock, create_app
from adapters.hubspot.settings import TokenAuth
from adapters.hubspot.setup import setup
from connector.adapter import NativeWrite
from connector.http import LimiterRegistry
from connector.model import Entity

from .conftest import make_settings

SANDBOX = "http://hubspot.sandbox"
MAPPED = {
    Entity.CUSTOMER: ["erp_customer_no", "name", "domain", "erp_lifetime_revenue"],
    Entity.CONTACT: ["erp_contact_no", "email", "firstname"],
    Entity.SALE: ["erp_order_no", "dealname", "dealstage", "pipeline", "erp_order_status"],
}


@pytest.fixture
def sandbox_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(sandbox_clock: ManualClock):
    return create_app(clock=sandbox_clock, limits_enabled=False)


@pytest.fixture
async def hub(app) -> AsyncIterator[HubSpotAdapter]:
    settings = make_settings(
        base_url=SANDBOX,
        auth=TokenAuth(token=SecretStr("sandbox-token"), token_env=None),
        search_overlap_seconds=0,
    )
    adapter = HubSpotAdapter(
        "hubspot", settings, transport=httpx.ASGITransport(app=app), registry=LimiterRegistry()
    )
    await adapter.open()
    await setup(adapter, MAPPED)
    yield adapter
    await adapter.close()


def customers(count: int, start: int = 0) -> list[NativeWrite]:
    return [
        NativeWrite(
            key=f"cust-{n}",
            external_id=None,
            fields={"name": f"Customer {n}", "erp_customer_no": f"C-{n}", "domain": f"c{n}.test"},
        )
        for n in range(start, start + count)
    ]


async def test_setup_is_idempotent_and_says_what_it_did(app):
    settings = make_settings(
        base_url=SANDBOX, auth=TokenAuth(token=SecretStr("sandbox-token"), token_env=None)
    )
    adapter = HubSpotAdapter(
        "hubspot", settings, transport=httpx.ASGITransport(app=app), registry=LimiterRegistry()
    )
    await adapter.open()
    try:
        first = await setup(adapter, MAPPED)
        second = await setup(adapter, MAPPED)
    finally:
        await adapter.close()
    assert "companies: created property connector_key (unique)" in first
    assert "deals: created property erp_order_no (unique)" in first
    assert "companies: created property group erp_sync" in first
    assert not [line for line in second if "created" in line]
    assert "companies: property erp_customer_no exists" in second


async def test_upsert_creates_then_a_replay_updates_without_duplicates(hub):
    first = await hub.upsert(Entity.CUSTOMER, customers(150))
    assert all(r.ok for r in first), [str(r.error) for r in first if not r.ok][:3]
    assert all(r.created for r in first)
    again = await hub.upsert(Entity.CUSTOMER, customers(150))
    assert all(r.ok and not r.created for r in again)
    assert [r.external_id for r in again] == [r.external_id for r in first]
    pulled = [r async for page in hub.read_changes(Entity.CUSTOMER, None) for r in page.records]
    assert len(pulled) == 150 == len({r.id for r in pulled})
    keys = [(r.updated_at, int(r.id)) for r in pulled]
    assert keys == sorted(keys)
    assert {r.fields["connector_key"] for r in pulled} == {f"cust-{n}" for n in range(150)}


async def test_one_conflicting_record_fails_alone(hub):
    await hub.upsert(Entity.CUSTOMER, customers(1))
    batch = customers(5, start=10)
    # Another key claiming C-0, already held by cust-0: a unique-value conflict.
    batch[2] = NativeWrite("intruder", None, {"name": "X", "erp_customer_no": "C-0"})
    results = await hub.upsert(Entity.CUSTOMER, batch)
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert results[2].error is not None and results[2].error.code
    print("sandbox conflict:", results[2].error.code, str(results[2].error))


async def test_contacts_and_deals_with_associations_and_line_replacement(hub, sandbox_clock):
    [company] = await hub.upsert(Entity.CUSTOMER, customers(1))
    [contact] = await hub.upsert(
        Entity.CONTACT,
        [NativeWrite("ct-1", None, {"email": "a@c0.test", "erp_contact_no": "P-1",
                                     "associations": {"company": company.external_id}})],
    )  # fmt: skip
    assert contact.ok, contact.error
    deal_fields = {
        "dealname": "SO-1", "dealstage": "appointmentscheduled", "pipeline": "default",
        "erp_order_no": "SO-1",
        "associations": {"company": company.external_id, "contact": contact.external_id},
        "lines": [{"name": "Widget", "hs_sku": "W-1", "quantity": 2, "price": "9.50"},
                  {"name": "Gadget", "hs_sku": "G-1", "quantity": 1, "price": "3"}],
    }  # fmt: skip
    [deal] = await hub.upsert(Entity.SALE, [NativeWrite("sale-1", None, deal_fields)])
    assert deal.ok, deal.error
    [read_contact] = await hub.read(Entity.CONTACT, [contact.external_id])
    assert read_contact.fields["associations"] == {"company": company.external_id}
    [read_deal] = await hub.read(Entity.SALE, [deal.external_id])
    assert read_deal.fields["associations"] == {
        "company": company.external_id,
        "contact": contact.external_id,
    }
    assert sorted(line["hs_sku"] for line in read_deal.fields["lines"]) == ["G-1", "W-1"]
    new_lines = [{"name": "Bolt", "hs_sku": "B-1", "quantity": 10, "price": "0.25"}]
    [again] = await hub.upsert(
        Entity.SALE, [NativeWrite("sale-1", deal.external_id, {"lines": new_lines})]
    )
    assert again.ok, again.error
    [reread] = await hub.read(Entity.SALE, [deal.external_id])
    assert [(line["hs_sku"], line["quantity"]) for line in reread.fields["lines"]] == [
        ("B-1", "10")
    ]


async def test_lookup_delete_and_archived_records_as_deletes(hub, sandbox_clock):
    written = await hub.upsert(Entity.CUSTOMER, customers(3))
    found = await hub.lookup(Entity.CUSTOMER, "erp_customer_no", ["C-1", "C-99"])
    assert list(found) == ["C-1"] and found["C-1"].id == written[1].external_id
    by_domain = await hub.lookup(Entity.CUSTOMER, "domain", ["C2.TEST"])
    assert by_domain["C2.TEST"].id == written[2].external_id
    since = dt.datetime.fromtimestamp(sandbox_clock.now_ms() / 1000, dt.UTC)
    sandbox_clock.advance(5_000)
    [deleted] = await hub.delete(Entity.CUSTOMER, [written[0].external_id])
    assert deleted.ok
    changes = [r async for page in hub.read_changes(Entity.CUSTOMER, since) for r in page.records]
    gone = [r for r in changes if r.deleted]
    assert [r.id for r in gone] == [written[0].external_id]
    assert written[0].external_id not in [r.id for r in changes if not r.deleted]


async def test_more_than_10000_records_at_one_timestamp_sync_from_the_sandbox(app, hub):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as admin:
        seeded = await admin.post(
            "/_sandbox/seed",
            json={
                "objectType": "companies",
                "count": 10_250,
                "template": {"name": "Bulk {n}", "erp_customer_no": "B-{n}"},
                "timestamp": 1_767_225_600_000,
            },
        )
    assert seeded.status_code == 201, seeded.text
    ids: list[int] = []
    async for page in hub.read_changes(Entity.CUSTOMER, None):
        ids.extend(int(r.id) for r in page.records)
    assert len(ids) == 10_250 == len(set(ids))
    assert ids == sorted(ids)  # one timestamp: id order


async def test_a_sandbox_webhook_verifies_and_becomes_change_hints(sandbox_clock):
    from adapters.hubspot.webhooks import HubSpotWebhookVerifier
    from connector.adapter import WebhookRequest

    target = "https://connector.example.com/webhooks/hubspot"
    hints = []
    verifier = HubSpotWebhookVerifier([SecretStr("hook-secret")], versions=("v3",))

    def receive(request: httpx.Request) -> httpx.Response:
        received = WebhookRequest(
            request.method,
            str(request.url),
            dict(request.headers),
            request.content,
            dt.datetime.fromtimestamp(sandbox_clock.now_ms() / 1000, dt.UTC),
        )
        hints.extend(verifier.verify(received))
        return httpx.Response(204)

    app = create_app(
        clock=sandbox_clock,
        limits_enabled=False,
        webhook_transport=httpx.MockTransport(receive),
        webhooks={"target_url": target, "client_secret": "hook-secret", "batch_window_ms": 0},
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as admin:
        created = await admin.post("/_sandbox/ui/companies", json={"properties": {"name": "UI"}})
        assert created.status_code == 201, created.text
        await app.state.sandbox.webhooks.drain()
    assert [(h.entity, h.external_id) for h in hints][:1] == [
        (Entity.CUSTOMER, created.json()["id"])
    ]
