"""Multi-currency price books against the sandbox: a line's entry is in its sale's currency."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from connector.adapter import NativeWrite
from connector.http import LimiterRegistry
from connector.model import Entity
from tests.salesforce.conftest import settings_for
from tests.salesforce.test_sf_against_sandbox import accounts


@pytest.fixture
def org(key_pair) -> Sandbox:
    # The corporate currency is USD; the sample ERP sells in EUR and others.
    sandbox = Sandbox(
        SandboxOptions(
            certificate_pem=key_pair[1], seed_demo_accounts=False, currencies=("USD", "EUR", "GBP")
        )
    )
    sandbox.add_product("P-1", "Pump", 100, currencies=("USD", "EUR"))
    sandbox.add_product("P-2", "Valve", 20)  # the corporate currency only
    return sandbox


async def opened(org: Sandbox, key_pair, **overrides: Any) -> SalesforceAdapter:
    adapter = SalesforceAdapter(
        "crm",
        settings_for(key_pair, **overrides),
        transport=httpx.ASGITransport(app=create_app(org)),
        registry=LimiterRegistry(),
    )
    await adapter.open()
    return adapter


def sale(key: str, account: str, codes: list[str], **fields: Any) -> NativeWrite:
    return NativeWrite(
        key,
        None,
        {"Name": key, "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": account,
         "lines": [{"ProductCode": c, "Quantity": 1} for c in codes], **fields},
    )  # fmt: skip


async def test_lines_take_the_entry_in_the_sales_currency_and_a_missing_one_names_it(org, key_pair):
    adapter = await opened(org, key_pair)
    try:
        [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
        euro, no_euro_valve, default = await adapter.upsert(
            Entity.SALE,
            [
                sale("eur", account.external_id, ["P-1"], CurrencyIsoCode="EUR"),
                sale("eur-valve", account.external_id, ["P-1", "P-2"], CurrencyIsoCode="eur"),
                sale("usd", account.external_id, ["P-1", "P-2"]),
            ],
        )
    finally:
        await adapter.close()
    assert euro.ok and default.ok
    error = no_euro_valve.error
    assert error is not None and error.code == "PRICEBOOK_ENTRY_MISSING"
    assert "P-2" in str(error) and "Standard Price Book" in str(error) and "EUR" in str(error)
    assert "P-1" not in str(error)
    keys = {o["Connector_Key__c"] for o in org.org.live("Opportunity")}
    assert keys == {"eur", "usd"}, "the failing sale is not written at all"
    entries = {e["Id"]: e["CurrencyIsoCode"] for e in org.org.live("PricebookEntry")}
    by_sale = {o["Id"]: o for o in org.org.live("Opportunity")}
    for line in org.org.live("OpportunityLineItem"):
        opportunity = by_sale[line["OpportunityId"]]
        assert entries[line["PricebookEntryId"]] == opportunity["CurrencyIsoCode"]
    assert by_sale[default.external_id]["CurrencyIsoCode"] == "USD", "the user's own currency"


async def test_a_bound_sale_keeps_its_own_currency_when_the_write_names_none(org, key_pair):
    rep = org.user_id(org.options.reps[0][0])
    account = org.org.create(org.org.schema["Account"], {"Name": "Acme GB"}, rep)
    opportunity = org.org.create(
        org.org.schema["Opportunity"],
        {"Name": "UK deal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
         "AccountId": account.id, "CurrencyIsoCode": "GBP"},
        rep,
    )  # fmt: skip
    adapter = await opened(org, key_pair, multi_currency=True)
    try:
        [result] = await adapter.upsert(
            Entity.SALE,
            [NativeWrite("uk", opportunity.id, {"lines": [{"ProductCode": "P-1", "Quantity": 1}]})],
        )
        [record] = await adapter.read(Entity.SALE, [opportunity.id])
    finally:
        await adapter.close()
    assert result.error is not None and "for currency GBP" in str(result.error)
    assert record.fields["CurrencyIsoCode"] == "GBP", "multi_currency: true reads the currency"


async def test_a_single_currency_org_has_no_currency_field_and_still_prices_lines(
    make_adapter, sandbox
):
    sandbox.add_product("P-1", "Pump", 100)
    adapter = await make_adapter()
    [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    [result] = await adapter.upsert(Entity.SALE, [sale("s", account.external_id, ["P-1"])])
    assert result.ok
    assert "CurrencyIsoCode" not in sandbox.org.schema["Opportunity"].fields
    queries = [e["path"] for e in sandbox.log if "describe" in e["path"]]
    assert len(queries) == 1, "the org's kind is found out once"
