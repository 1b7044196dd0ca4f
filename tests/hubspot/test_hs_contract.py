"""The shared adapter contract suite, run against the HubSpot adapter on the in-process sandbox,
for companies, contacts and deals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.sandbox import create_app
from adapters.hubspot.settings import TokenAuth
from adapters.hubspot.setup import setup
from connector.http import LimiterRegistry
from connector.model import Entity
from connector.testing.contract import *  # noqa: F403
from connector.testing.contract import ContractHarness

from .conftest import make_settings

HARNESSES = {
    Entity.CUSTOMER: dict(
        new_fields=lambda n: {"name": f"Co {n}", "erp_customer_no": f"C-{n}"},
        lookup_field="erp_customer_no",
        bad_fields={"name": "Bad", "no_such_property": "x"},
    ),
    Entity.CONTACT: dict(
        new_fields=lambda n: {"email": f"p{n}@example.com", "firstname": f"P{n}"},
        lookup_field="email",
        bad_fields={"email": "bad@example.com", "no_such_property": "x"},
    ),
    Entity.SALE: dict(
        new_fields=lambda n: {"dealname": f"SO-{n}", "dealstage": "appointmentscheduled",
                              "pipeline": "default", "erp_order_no": f"SO-{n}"},
        lookup_field="erp_order_no",
        bad_fields={"dealname": "Bad", "no_such_property": "x"},
    ),
}  # fmt: skip


@pytest.fixture(params=list(HARNESSES), ids=lambda e: e.value)
async def harness(request) -> AsyncIterator[ContractHarness]:
    # The system clock, so records get distinct timestamps and `since` means something.
    app = create_app(limits_enabled=False)
    settings = make_settings(
        base_url="http://hubspot.sandbox",
        auth=TokenAuth(token=SecretStr("sandbox-token"), token_env=None),
        search_overlap_seconds=0,
    )
    adapter = HubSpotAdapter(
        "hubspot", settings, transport=httpx.ASGITransport(app=app), registry=LimiterRegistry()
    )
    await adapter.open()
    await setup(adapter, {})
    yield ContractHarness(adapter, entity=request.param, **HARNESSES[request.param])
    await adapter.close()
