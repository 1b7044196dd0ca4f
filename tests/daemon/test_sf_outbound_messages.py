"""Salesforce Outbound Messages through the daemon's receiver: org check, Ack after commit,
dedupe by notification id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from adapters.salesforce.sandbox.outbound import envelope
from adapters.salesforce.webhooks import OutboundMessageVerifier
from connector.daemon.app import ReceiverDeps, create_app
from connector.state import schema
from connector.state.store import StateStore

ORG = "00D5g000008aBcDEAU"


@pytest.fixture
async def client(sqlite_store: StateStore, clock) -> AsyncIterator[httpx.AsyncClient]:
    deps = ReceiverDeps(
        store=sqlite_store,
        verifiers={"crm": OutboundMessageVerifier(ORG[:15])},
        clock=clock,
    )
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


def rows(store: StateStore) -> list[tuple[str, str, str, str]]:
    table = schema.inbox
    with store.engine.connect() as conn:
        found = conn.execute(
            select(table.c.source, table.c.event_id, table.c.entity, table.c.external_id)
        )
        return [tuple(row) for row in found]


def post(client: httpx.AsyncClient, body: bytes, content_type: str = "text/xml; charset=utf-8"):
    return client.post("/webhooks/crm", content=body, headers={"Content-Type": content_type})


async def test_a_delivery_is_acknowledged_after_it_is_in_the_inbox(client, sqlite_store):
    account = "001Rb0000000500IAA"
    body = envelope(
        ORG,
        [
            ("04l000000000001AAA", "Account", account),
            ("04l000000000002AAA", "Task", "00T000000000001AAA"),
        ],
    )
    answer = await post(client, body)
    assert answer.status_code == 200
    assert b"<Ack>true</Ack>" in answer.content and answer.headers["content-type"].startswith(
        "text/xml"
    )
    assert rows(sqlite_store) == [("crm", "04l000000000001AAA", "customer", account)]
    again = await post(client, body)
    assert again.status_code == 200 and b"<Ack>true</Ack>" in again.content
    assert len(rows(sqlite_store)) == 1, "a redelivery is the same notification id"


async def test_another_org_json_and_doctypes_are_refused_unacknowledged(client, sqlite_store):
    other = envelope(
        "00D000000000001AAA", [("04l000000000003AAA", "Account", "001Rb0000000500IAA")]
    )
    refused = await post(client, other)
    assert refused.status_code == 403 and b"Ack" not in refused.content
    assert (await post(client, b"{}", "application/json")).status_code == 415
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    assert (await post(client, evil)).status_code == 400
    assert (await post(client, b"<not-closed")).status_code == 400
    assert rows(sqlite_store) == []
