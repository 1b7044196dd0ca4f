"""What a portal does to written values: normalisation, calculated line amounts, and the
batch-read body the API description requires."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from adapters.hubspot.sandbox import Sandbox
from adapters.hubspot.sandbox.calculated import line_amounts
from adapters.hubspot.sandbox.values import plain_number

LINES = "/crm/v3/objects/line_items"


async def _line(hs: httpx.AsyncClient, **properties: str) -> dict[str, str | None]:
    created = await hs.post(LINES, json={"properties": properties})
    assert created.status_code == 201, created.text
    wanted = "quantity,price,discount,hs_discount_percentage,amount,hs_pre_discount_amount,"
    read = await hs.get(
        f"{LINES}/{created.json()['id']}", params={"properties": wanted + "hs_total_discount"}
    )
    props: dict[str, str | None] = read.json()["properties"]
    return props


async def test_the_unit_discount_is_taken_off_every_unit(hs: httpx.AsyncClient) -> None:
    line = await _line(hs, quantity="4", price="25.00", discount="2.50")
    assert line["hs_pre_discount_amount"] == "100"
    assert line["hs_total_discount"] == "10", "4 units * 2.50, not 2.50 once"
    assert line["amount"] == "90"


async def test_the_percentage_applies_to_the_line_total_rounded_to_cents(
    hs: httpx.AsyncClient,
) -> None:
    # HubSpot's documented example: 10 * 234.56 less 20 % is 1,876.48, not 10 * 187.65.
    line = await _line(hs, quantity="10", price="234.56", hs_discount_percentage="20")
    assert line["hs_total_discount"] == "469.12"
    assert line["amount"] == "1876.48"
    # 11.90 less 15 %: a discount of 1.785 is rounded to 1.79.
    assert (await _line(hs, quantity="1", price="11.90", hs_discount_percentage="15"))[
        "amount"
    ] == "10.11"


async def test_a_changed_quantity_recomputes_the_amount(hs: httpx.AsyncClient) -> None:
    created = await hs.post(
        LINES, json={"properties": {"quantity": "2", "price": "10", "discount": "1"}}
    )
    line_id = created.json()["id"]
    await hs.patch(f"{LINES}/{line_id}", json={"properties": {"quantity": "5"}})
    read = await hs.get(f"{LINES}/{line_id}", params={"properties": "amount"})
    assert read.json()["properties"]["amount"] == "45"


@pytest.mark.parametrize("name", ["amount", "hs_pre_discount_amount", "hs_total_discount"])
async def test_the_calculated_line_properties_are_read_only(
    hs: httpx.AsyncClient, name: str
) -> None:
    refused = await hs.post(LINES, json={"properties": {"price": "10", name: "99"}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["code"] == "READ_ONLY_VALUE"
    definition = (await hs.get(f"/crm/v3/properties/line_items/{name}")).json()
    assert definition["calculated"] is True
    assert definition["modificationMetadata"]["readOnlyValue"] is True


def test_line_amounts_without_a_discount() -> None:
    assert line_amounts(Decimal(3), Decimal("1.10"), None, None) == (
        Decimal("3.30"),
        Decimal(0),
        Decimal("3.30"),
    )


@pytest.mark.parametrize(
    ("written", "shown"),
    [("12.50", "12.5"), ("100.00", "100"), ("1E+2", "100"), ("-0.0", "0"), (" 7 ", "7")],
)
def test_numbers_are_shown_without_trailing_zeros(written: str, shown: str) -> None:
    assert plain_number(Decimal(written.strip())) == shown


async def test_a_portal_normalises_written_values(hs: httpx.AsyncClient) -> None:
    company = await hs.post(
        "/crm/v3/objects/companies",
        json={"properties": {"name": "  Acme GmbH ", "domain": "ACME.Example",
                             "numberofemployees": "250.0"}},
    )  # fmt: skip
    assert company.status_code == 201, company.text
    props = company.json()["properties"]
    assert props["name"] == "Acme GmbH"
    assert props["domain"] == "acme.example"
    assert props["numberofemployees"] == "250"
    contact = await hs.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": " Pat.Lee@ACME.example"}}
    )
    assert contact.json()["properties"]["email"] == "pat.lee@acme.example"
    deal = await hs.post(
        "/crm/v3/objects/deals",
        json={"properties": {"dealname": "D", "dealstage": "appointmentscheduled",
                             "pipeline": "default", "closedate": "2024-05-01"}},
    )  # fmt: skip
    read = await hs.get(
        f"/crm/v3/objects/deals/{deal.json()['id']}", params={"properties": "closedate"}
    )
    assert read.json()["properties"]["closedate"] == "2024-05-01T00:00:00.000Z"


async def test_normalisation_can_be_switched_off(hs: httpx.AsyncClient, sandbox: Sandbox) -> None:
    switched = await hs.patch("/_sandbox/switches", json={"normalize_values": False})
    assert switched.status_code == 200, switched.text
    company = await hs.post(
        "/crm/v3/objects/companies",
        json={"properties": {"name": " Acme ", "domain": "ACME.Example",
                             "numberofemployees": "250.0"}},
    )  # fmt: skip
    props = company.json()["properties"]
    assert (props["name"], props["domain"], props["numberofemployees"]) == (
        " Acme ",
        "ACME.Example",
        "250.0",
    )
    line = await _line(hs, quantity="4", price="25", discount="2.5")
    assert line["amount"] == "90.00"
    assert sandbox.store.normalize is False


async def test_a_batch_read_without_properties_with_history_is_refused(
    hs: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    company = {"properties": {"name": "A"}}
    created = (await hs.post("/crm/v3/objects/companies", json=company)).json()
    path = "/crm/v3/objects/companies/batch/read"
    inputs = [{"id": created["id"]}]
    missing = await hs.post(path, json={"properties": ["name"], "inputs": inputs})
    assert missing.status_code == 400, missing.text
    assert "propertiesWithHistory" in missing.json()["message"]
    ok = await hs.post(
        path, json={"properties": ["name"], "propertiesWithHistory": [], "inputs": inputs}
    )
    assert ok.status_code == 200 and ok.json()["results"][0]["properties"]["name"] == "A"
    sandbox.update_switches({"require_properties_with_history": False})
    assert (await hs.post(path, json={"properties": ["name"], "inputs": inputs})).status_code == 200
