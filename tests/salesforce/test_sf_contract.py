"""The shared adapter contract, run against the Salesforce sandbox (in process)."""

from __future__ import annotations

import pytest

from connector.model import Entity
from connector.testing.contract import *  # noqa: F403
from connector.testing.contract import ContractHarness


@pytest.fixture(params=[Entity.CUSTOMER, Entity.CONTACT])
async def harness(request, make_adapter):
    adapter = await make_adapter()
    if request.param is Entity.CUSTOMER:
        return ContractHarness(
            adapter,
            new_fields=lambda n: {"Name": f"Company {n}", "ERP_Customer_No__c": f"C-{n:05d}"},
            lookup_field="ERP_Customer_No__c",
            bad_fields={"Name": "Bad", "ERP_Customer_Status__c": "closed"},
            changed_fields=lambda n: {"Name": f"Company {n} renamed"},
        )
    return ContractHarness(
        adapter,
        entity=Entity.CONTACT,
        new_fields=lambda n: {"LastName": f"Person {n}", "Email": f"p{n}@example.org"},
        lookup_field="Email",
        bad_fields={"FirstName": "No last name"},
    )
