"""The product's business flows through the real CLI: sample ERP ↔ HubSpot sandbox over loopback.

Each test starts from a small sample ERP (SQLite) and an empty HubSpot sandbox served by uvicorn
on 127.0.0.1, with HubSpot's rate limits enforced, and drives everything with `connector …`.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mappings import __file__ as mappings_init
from tests.e2e.conftest import World, counts, erp_now, erp_query

WRITE = re.compile(r"/batch/(upsert|update|create|archive)$|/objects/\w+(/\d+)?$")


def objects(world: World, object_type: str) -> list[dict[str, Any]]:
    with world.sandbox.client() as client:
        body = client.get(f"/_sandbox/objects/{object_type}").json()
    return [row for row in body["results"] if not row.get("archived")]


def write_calls(world: World) -> int:
    with world.sandbox.client() as client:
        log = client.get("/_sandbox/requests").json()["results"]
    return sum(
        1
        for entry in log
        if entry["method"] in ("POST", "PATCH", "DELETE")
        and "/search" not in entry["path"]
        and not entry["path"].startswith("/_sandbox")
        and "/properties" not in entry["path"]
        and entry["path"] != "/oauth/v1/token"
        and "/batch/read" not in entry["path"]
    )


def erp(world: World, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return erp_query(world.erp_db, sql, *params)


def owner_ids(world: World) -> dict[str, str]:
    """The sandbox's owners, e-mail → owner id, through the Owners API as the adapter sees it."""
    with world.sandbox.client() as client:
        body = client.get("/crm/v3/owners", params={"limit": 500}).json()
    return {owner["email"]: owner["id"] for owner in body["results"]}


SAMPLE_OWNERS = ("alice@example.com", "bob@example.com", "carol@example.com")


def hire(world: World, *emails: str) -> None:
    """Make the sample ERP's sales reps HubSpot users too, through the sandbox's admin API: the
    sandbox's own default owners are deliberately other people."""
    with world.sandbox.client() as client:
        for email in emails:
            client.post("/_sandbox/owners", json={"email": email}).raise_for_status()


def ui_edit(world: World, object_type: str, object_id: str, **properties: str) -> None:
    with world.sandbox.client() as client:
        client.patch(
            f"/_sandbox/ui/{object_type}/{object_id}", json={"properties": properties}
        ).raise_for_status()


def test_first_sync_creates_everything_and_nothing_echoes_back(world: World):
    hire(world, *SAMPLE_OWNERS)
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[0] == 30
    assert counts(out, "erp-to-crm", "contact")[0] == 60
    assert counts(out, "erp-to-crm", "sale")[0] == 40
    companies = objects(world, "companies")
    assert sorted(c["properties"]["erp_customer_no"] for c in companies) == sorted(
        row[0] for row in erp(world, "SELECT customer_no FROM customers")
    )
    # The ERP's owner e-mails arrive as the ids of those owners (HubSpot takes nothing else).
    owners = owner_ids(world)
    expected = {
        number: owners[email] if email else None
        for number, email in erp(world, "SELECT customer_no, crm_owner FROM customers")
    }
    assert {
        c["properties"]["erp_customer_no"]: c["properties"].get("hubspot_owner_id")
        for c in companies
    } == expected
    assert len({owner for owner in expected.values() if owner}) == 3, "the sample uses all three"
    deals = objects(world, "deals")
    assert len(deals) == 40 and all(d["properties"].get("erp_order_no") for d in deals)
    assert (
        len(objects(world, "line_items"))
        == erp(world, "SELECT COUNT(*) FROM sales_order_lines")[0][0]
    )

    before = write_calls(world)
    again = world.connector("sync", "erp-to-crm")
    assert write_calls(world) == before, "a second run with nothing changed must not write"
    assert counts(again, "erp-to-crm", "customer")[:2] == [0, 0]

    stamps = erp(world, "SELECT MAX(updated_at) FROM customers")
    back = world.connector("sync", "crm-to-erp")
    for entity in ("customer", "contact", "sale"):
        assert counts(back, "crm-to-erp", entity)[:2] == [0, 0], back
    assert erp(world, "SELECT MAX(updated_at) FROM customers") == stamps


def test_an_erp_change_updates_only_that_record_in_hubspot(world: World):
    world.connector("sync", "erp-to-crm")
    erp(world, "UPDATE customers SET name = 'Renamed GmbH', updated_at = ? WHERE id = 1", erp_now())
    before = write_calls(world)
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[:2] == [0, 1]
    number = erp(world, "SELECT customer_no FROM customers WHERE id = 1")[0][0]
    company = next(
        c for c in objects(world, "companies") if c["properties"]["erp_customer_no"] == number
    )
    assert company["properties"]["name"] == "Renamed GmbH"
    assert write_calls(world) - before == 1


def test_a_won_deal_becomes_an_erp_order_and_its_number_and_status_flow_back(world: World):
    world.connector("sync", "erp-to-crm")
    company = objects(world, "companies")[0]
    with world.sandbox.client() as client:
        deal = client.post(
            "/crm/v3/objects/deals",
            json={
                "properties": {
                    "dealname": "Big pump order",
                    "dealstage": "contractsent",
                    "pipeline": "default",
                    "amount": "1490.00",
                    "deal_currency_code": "EUR",
                },
                "associations": [
                    {
                        "to": {"id": company["id"]},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}
                        ],
                    }
                ],
            },
        ).json()["id"]
        client.post(
            "/crm/v3/objects/line_items",
            json={
                "properties": {
                    "name": "Pump",
                    "hs_sku": "P-1",
                    "quantity": "10",
                    "price": "149.00",
                },
                "associations": [
                    {
                        "to": {"id": deal},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}
                        ],
                    }
                ],
            },
        ).raise_for_status()

    open_deal = world.connector("sync", "crm-to-erp")
    assert counts(open_deal, "crm-to-erp", "sale")[4] == 1, "an open deal is not an order yet"
    assert not erp(world, "SELECT id FROM sales_orders WHERE title = 'Big pump order'")

    ui_edit(world, "deals", deal, dealstage="closedwon")
    won = world.connector("sync", "crm-to-erp")
    assert counts(won, "crm-to-erp", "sale")[0] == 1
    [(order_id, number, stage, customer_no)] = erp(
        world,
        """
        SELECT o.id, o.order_no, o.stage, c.customer_no FROM sales_orders o
        JOIN customers c ON c.id = o.customer_id WHERE o.title = 'Big pump order'""",
    )
    assert stage == "won" and number
    assert customer_no == company["properties"]["erp_customer_no"]
    assert erp(
        world,
        "SELECT sku, quantity, unit_price FROM sales_order_lines WHERE order_id = ?",
        order_id,
    ) == [("P-1", 10, 149)]

    world.connector("sync", "erp-to-crm")
    deal_now = next(d for d in objects(world, "deals") if d["id"] == str(deal))
    assert deal_now["properties"]["erp_order_no"] == number

    erp(
        world,
        "UPDATE sales_orders SET status = 'shipped', updated_at = ? WHERE id = ?",
        erp_now(),
        order_id,
    )
    world.connector("sync", "erp-to-crm")
    deal_now = next(d for d in objects(world, "deals") if d["id"] == str(deal))
    assert deal_now["properties"]["erp_order_status"] == "shipped"


def test_customer_history_reaches_the_crm_and_stays_current(world: World):
    world.connector("sync", "erp-to-crm")
    [(customer_id, number)] = erp(
        world, "SELECT id, customer_no FROM customers ORDER BY id LIMIT 1"
    )
    expected = erp(
        world, "SELECT lifetime_revenue, open_order_count FROM customers WHERE id = ?", customer_id
    )[0]
    company = next(
        c for c in objects(world, "companies") if c["properties"]["erp_customer_no"] == number
    )
    assert Decimal(company["properties"]["erp_lifetime_revenue"]) == Decimal(str(expected[0]))

    [(order_id,)] = erp(
        world, "SELECT id FROM sales_orders WHERE customer_id = ? LIMIT 1", customer_id
    ) or [(None,)]
    assert order_id is not None
    erp(
        world,
        "INSERT INTO invoices (invoice_no, order_id, customer_id, invoice_date, amount, paid, "
        "updated_at) "
        "VALUES ('INV-E2E', ?, ?, '2026-11-01', 1000, 1, ?)",
        order_id,
        customer_id,
        erp_now(),
    )
    world.connector("sync", "erp-to-crm")
    company = next(
        c for c in objects(world, "companies") if c["properties"]["erp_customer_no"] == number
    )
    assert (
        Decimal(company["properties"]["erp_lifetime_revenue"]) == Decimal(str(expected[0])) + 1000
    )


def test_conflicting_edits_end_with_each_field_from_its_owner(world: World):
    world.connector("sync", "erp-to-crm")
    world.connector("sync", "crm-to-erp")
    [(customer_id, number)] = erp(
        world, "SELECT id, customer_no FROM customers ORDER BY id LIMIT 1"
    )
    company = next(
        c for c in objects(world, "companies") if c["properties"]["erp_customer_no"] == number
    )

    # Both sides edit the billing city (the ERP's) and the industry (the CRM's).
    erp(
        world,
        "UPDATE customers SET billing_city = 'Erpstadt', industry = 'ERP says', updated_at = ? "
        "WHERE id = ?",
        erp_now(),
        customer_id,
    )
    ui_edit(world, "companies", company["id"], city="Crmville", industry="RETAIL")

    world.connector("sync", "erp-to-crm")
    world.connector("sync", "crm-to-erp")
    world.connector("sync", "erp-to-crm")

    company = next(c for c in objects(world, "companies") if c["id"] == company["id"])
    assert company["properties"]["city"] == "Erpstadt"
    assert company["properties"]["industry"] == "RETAIL"
    assert erp(world, "SELECT billing_city, industry FROM customers WHERE id = ?", customer_id) == [
        ("Erpstadt", "Retail")
    ]


def test_the_account_owner_travels_as_an_email_and_arrives_as_an_owner_id(
    world: World, caplog: pytest.LogCaptureFixture
):
    hire(world, *SAMPLE_OWNERS)
    owners = owner_ids(world)
    [(first_id, first_no), (second_id, second_no)] = erp(
        world, "SELECT id, customer_no FROM customers ORDER BY id LIMIT 2"
    )
    # An owner HubSpot does not have: the company syncs without one, with a warning.
    erp(world, "UPDATE customers SET crm_owner = 'Dave@Example.com' WHERE id = ?", first_id)
    erp(world, "UPDATE customers SET crm_owner = 'alice@example.com' WHERE id = ?", second_id)
    with caplog.at_level(logging.WARNING, logger="adapters.hubspot.owners"):
        out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[0] == 30
    assert counts(out, "erp-to-crm", "customer")[5] == 0
    warnings = [r.getMessage() for r in caplog.records if "Dave@Example.com" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    by_number = {c["properties"]["erp_customer_no"]: c for c in objects(world, "companies")}
    assert by_number[first_no]["properties"].get("hubspot_owner_id") is None
    second = by_number[second_no]
    assert second["properties"]["hubspot_owner_id"] == owners["alice@example.com"]

    # A sales manager hands the account to Bob in HubSpot: the ERP learns Bob's e-mail.
    ui_edit(world, "companies", second["id"], hubspot_owner_id=owners["bob@example.com"])
    world.connector("sync", "crm-to-erp")
    assert erp(world, "SELECT crm_owner FROM customers WHERE id = ?", second_id) == [
        ("bob@example.com",)
    ]
    # ... and nothing echoes back: HubSpot keeps Bob's id.
    world.connector("sync", "erp-to-crm")
    now = next(c for c in objects(world, "companies") if c["id"] == second["id"])
    assert now["properties"]["hubspot_owner_id"] == owners["bob@example.com"]

    # Bob leaves: his owner is archived in HubSpot. A company still naming him keeps him: an
    # archived owner still reads as its e-mail, so deactivating a rep erases nothing in the ERP.
    with world.sandbox.client() as client:
        client.delete(f"/_sandbox/owners/{owners['bob@example.com']}").raise_for_status()
    ui_edit(world, "companies", second["id"], name="Touched after Bob left")
    world.connector("sync", "crm-to-erp")
    assert erp(world, "SELECT name, crm_owner FROM customers WHERE id = ?", second_id) == [
        ("Touched after Bob left", "bob@example.com")
    ]
    # Dave, whom HubSpot never knew, is still Dave in the ERP after the CRM's answer came back.
    assert erp(world, "SELECT crm_owner FROM customers WHERE id = ?", first_id) == [
        ("Dave@Example.com",)
    ]


def test_first_sync_into_a_populated_hubspot_binds_instead_of_duplicating(world: World):
    numbers = [
        row[0] for row in erp(world, "SELECT customer_no FROM customers ORDER BY id LIMIT 5")
    ]
    with world.sandbox.client() as client:
        client.post(
            "/_sandbox/seed",
            json={
                "objectType": "companies",
                "records": [{"name": f"Pre-existing {n}", "erp_customer_no": n} for n in numbers],
            },
        ).raise_for_status()
    out = world.connector("sync", "erp-to-crm", "--entity", "customer")
    assert counts(out, "erp-to-crm", "customer")[:2] == [25, 5]
    companies = objects(world, "companies")
    assert len(companies) == 30
    assert len({c["properties"]["erp_customer_no"] for c in companies}) == 30


def test_one_bad_record_fails_alone_and_is_listed_with_hubspots_reason(world: World):
    first, second = erp(world, "SELECT id, email FROM contacts ORDER BY id LIMIT 2")
    erp(
        world, "UPDATE contacts SET email = ? WHERE id = ?", first[1], second[0]
    )  # a duplicate email
    out = world.connector("sync", "erp-to-crm", expect=1)
    created, _, _, _, _, failed = counts(out, "erp-to-crm", "contact")
    assert (created, failed) == (59, 1)
    listing = world.connector("failures", "list")
    assert "contact" in listing and re.search(r"CONFLICT|already", listing), listing


def test_a_contact_deleted_in_the_erp_is_archived_in_hubspot(world: World):
    world.connector("sync", "erp-to-crm")
    [(contact_id, email)] = erp(world, "SELECT id, email FROM contacts ORDER BY id LIMIT 1")
    erp(
        world,
        "UPDATE contacts SET deleted_at = ?, updated_at = ? WHERE id = ?",
        erp_now(),
        erp_now(),
        contact_id,
    )
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "contact")[3] == 1
    assert email not in {c["properties"].get("email") for c in objects(world, "contacts")}


def test_a_deleted_customer_is_deactivated_and_a_deleted_order_left_alone(world: World):
    """The shipped policies: customers `deactivate`, sales `ignore` (the default)."""
    world.connector("sync", "erp-to-crm")
    [(customer_id, number)] = erp(
        world, "SELECT id, customer_no FROM customers ORDER BY id LIMIT 1"
    )
    [(order_id, order_no)] = erp(world, "SELECT id, order_no FROM sales_orders ORDER BY id LIMIT 1")
    now = erp_now()
    for table, row_id in (("customers", customer_id), ("sales_orders", order_id)):
        erp(
            world,
            f"UPDATE {table} SET deleted_at = ?, updated_at = ? WHERE id = ?",
            now,
            now,
            row_id,
        )
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[3] == 1
    assert counts(out, "erp-to-crm", "sale")[3] == 0
    [company] = [
        c for c in objects(world, "companies") if c["properties"]["erp_customer_no"] == number
    ]
    assert company["properties"]["erp_customer_status"] == "inactive"
    assert order_no in {d["properties"].get("erp_order_no") for d in objects(world, "deals")}


def test_more_than_ten_thousand_changes_at_one_timestamp_all_arrive(world: World):
    with world.sandbox.client() as client:
        client.patch("/_sandbox/switches", json={"limits_enabled": False}).raise_for_status()
        client.post(
            "/_sandbox/seed",
            json={
                "objectType": "companies",
                "count": 10_050,
                "timestamp": 1_767_225_600_000,
                "template": {"name": "Bulk {n}", "erp_customer_no": "BULK-{n}"},
            },
        ).raise_for_status()
    out = world.connector("sync", "crm-to-erp", "--entity", "customer")
    assert counts(out, "crm-to-erp", "customer")[0] == 10_050
    assert erp(world, "SELECT COUNT(*) FROM customers WHERE customer_no LIKE 'BULK-%'") == [
        (10_050,)
    ]


def test_mapping_commands_check_preview_and_describe_the_files_in_use(world: World):
    assert "All mapping files are valid." in world.connector("mappings", "check")

    preview = world.connector(
        "mappings", "preview", "--system", "erp", "--entity", "customer", "--id", "1"
    )
    [(number, city)] = erp(world, "SELECT customer_no, billing_city FROM customers WHERE id = 1")
    assert "customer_no" in preview and number in preview
    assert "billing_address.city" in preview and city in preview
    assert "erp_customer_no" in preview, "the HubSpot side of the record is shown too"

    schema = world.connector("mappings", "schema")
    assert '"fields"' in schema and '"transform"' in schema

    # A user's own mapping folder overrides a shipped file; a typo is reported with its line.
    own = world.directory / "my-mappings" / "hubspot"
    own.mkdir(parents=True)
    shipped = (world.config.parents[0] / "config.yaml").read_text()
    world.config.write_text(shipped.replace("version: 1", "version: 1\nmappings: my-mappings"))
    text = (Path(mappings_init).parent / "hubspot" / "customer.yaml").read_text()
    (own / "customer.yaml").write_text(text.replace("canonical: name,", "canonical: nmae,", 1))
    broken = world.connector("mappings", "check", expect=2)
    assert re.search(r"customer\.yaml:\d+:\d+: .*nmae.*did you mean .?name", broken), broken
