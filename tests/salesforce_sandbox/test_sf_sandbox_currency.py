"""The sandbox's multi-currency option: the field exists only when on, entries per currency."""

from __future__ import annotations

import pytest

from adapters.salesforce.sandbox import Sandbox, SandboxOptions
from adapters.salesforce.sandbox.org import RecordFailure


def test_a_line_needs_an_entry_in_its_opportunitys_currency():
    sandbox = Sandbox(SandboxOptions(seed_demo_accounts=False, currencies=("USD", "EUR")))
    org, user = sandbox.org, sandbox.integration_user_id
    usd_entry = sandbox.add_product("P-1", "Pump", 10)
    eur_entry = sandbox.add_product("P-2", "Valve", 10, currencies=("EUR",))
    opportunity = org.create(
        org.schema["Opportunity"],
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
        user,
    )
    assert org.get("Opportunity", opportunity.id)["CurrencyIsoCode"] == "USD"
    line = {"OpportunityId": opportunity.id, "Quantity": 1}
    with pytest.raises(RecordFailure, match="currency code does not match"):
        org.create(org.schema["OpportunityLineItem"], {**line, "PricebookEntryId": eur_entry}, user)
    made = org.create(
        org.schema["OpportunityLineItem"], {**line, "PricebookEntryId": usd_entry}, user
    )
    assert org.get("OpportunityLineItem", made.id)["CurrencyIsoCode"] == "USD"
    with pytest.raises(RecordFailure, match="restricted picklist"):
        org.update(org.schema["Opportunity"], opportunity.id, {"CurrencyIsoCode": "JPY"}, user)


def test_without_multi_currency_there_is_no_currency_field():
    sandbox = Sandbox(SandboxOptions(seed_demo_accounts=False))
    assert all("CurrencyIsoCode" not in o.fields for o in sandbox.org.schema.values())
