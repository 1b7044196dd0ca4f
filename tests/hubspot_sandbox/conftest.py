"""Fixtures for the HubSpot sandbox tests: an in-process app on a hand-driven clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from adapters.hubspot.sandbox import ManualClock, Sandbox, create_app

TOKEN = "sandbox-token"
BASE = "http://hubspot.sandbox"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox_app(clock: ManualClock) -> Starlette:
    return create_app(clock=clock)


@pytest.fixture
def sandbox(sandbox_app: Starlette) -> Sandbox:
    state: Sandbox = sandbox_app.state.sandbox
    return state


@pytest.fixture
async def hs(sandbox_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox_app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        yield client


async def make_unique_property(
    client: httpx.AsyncClient, object_type: str, name: str, **extra: Any
) -> None:
    group = {
        "companies": "companyinformation",
        "contacts": "contactinformation",
        "deals": "dealinformation",
        "line_items": "lineiteminformation",
    }[object_type]
    body = {
        "name": name,
        "label": name,
        "type": "string",
        "fieldType": "text",
        "groupName": group,
        "hasUniqueValue": True,
        **extra,
    }
    response = await client.post(f"/crm/v3/properties/{object_type}", json=body)
    assert response.status_code == 201, response.text
