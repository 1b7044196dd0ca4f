"""The business flows through the real CLI: sample ERP ↔ Salesforce sandbox over loopback.

The sandbox runs under uvicorn on 127.0.0.1 with the JWT bearer flow checked against the
certificate of a key pair made for the test; the org's users are the sample's sales reps (added
by an "admin" first, as a real org would need) and its products are the ERP's. Everything else
is driven with `connector …`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.erp_generic.sample import create_sample_erp
from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from tests.e2e.conftest import (
    counts,
    erp_now,
    erp_query,
    run_cli,
    save_config,
    serve,
    shipped_config,
)
from tests.salesforce.keys import make_key_pair

KEY_ENV = "SALESFORCE_TEST_PRIVATE_KEY"
DATA = "/services/data/v62.0"


@dataclass
class Org:
    url: str
    sandbox: Sandbox

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        with self.admin() as client:
            rows = client.get(f"/_sandbox/records/{sobject}").json()["records"]
        return [row for row in rows if not row["IsDeleted"]]

    def writes(self) -> int:
        with self.admin() as client:
            log = client.get("/_sandbox/requests").json()["requests"]
        return sum(
            1
            for entry in log
            if entry["method"] in ("POST", "PATCH", "DELETE") and "/query" not in entry["path"]
        )


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    key_pair = make_key_pair()
    monkeypatch.setenv(KEY_ENV, key_pair[0])
    sandbox = Sandbox(SandboxOptions(certificate_pem=key_pair[1], seed_demo_accounts=False))
    with contextmanager(serve)(create_app(sandbox)) as served:
        yield Org(served.url, sandbox)


@dataclass
class World:
    directory: Path
    config: Path
    org: Org

    @property
    def erp_db(self) -> Path:
        return self.directory / "erp.db"

    def connector(self, *args: str, expect: int | None = 0) -> str:
        return run_cli(self.config, *args, expect=expect)

    def erp(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return erp_query(self.erp_db, sql, *params)


@pytest.fixture
def world(tmp_path: Path, org: Org) -> World:
    create_sample_erp(tmp_path / "erp.db", customers=30, contacts=60, orders=40, products=20)
    config = shipped_config(tmp_path)
    config["systems"]["crm"] = {
        "adapter": "salesforce",
        "settings": {
            "login_url": org.url,
            "auth": {
                "kind": "jwt",
                "client_id": "sandbox-consumer-key",
                "username": "integration@acme-corp.example",
                "private_key_env": KEY_ENV,
            },
        },
    }
    path = save_config(tmp_path, config)
    world = World(tmp_path, path, org)
    products = world.erp("SELECT sku, name, unit_price FROM products")
    reps = {row[0] for row in world.erp("SELECT crm_owner FROM customers") if row[0]}
    with org.admin() as client:
        client.post(
            "/_sandbox/products",
            json=[
                {"code": sku, "name": name, "price": float(price)} for sku, name, price in products
            ],
        ).raise_for_status()
        for email in sorted(reps):
            client.post("/_sandbox/users", json={"email": email}).raise_for_status()
    return world


def test_first_sync_fills_the_org_and_a_rerun_writes_nothing(world: World):
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[0] == 30
    assert counts(out, "erp-to-crm", "contact")[0] == 60
    assert counts(out, "erp-to-crm", "sale")[0] == 40
    accounts = world.org.records("Account")
    numbers = sorted(row[0] for row in world.erp("SELECT customer_no FROM customers"))
    assert sorted(a["ERP_Customer_No__c"] for a in accounts) == numbers
    users = {u["Id"]: u["Email"] for u in world.org.records("User")}
    expected = dict(world.erp("SELECT customer_no, crm_owner FROM customers"))
    integration = next(i for i, e in users.items() if e.startswith("integration@"))
    for account in accounts:
        wanted = expected[account["ERP_Customer_No__c"]]
        # An account with no owner in the ERP belongs to the integration user that created it.
        assert users[account["OwnerId"]] == (wanted or users[integration])
    opportunities = world.org.records("Opportunity")
    assert len(opportunities) == 40 and all(o["IsWon"] for o in opportunities)
    lines = world.org.records("OpportunityLineItem")
    assert len(lines) == world.erp("SELECT COUNT(*) FROM sales_order_lines")[0][0]

    before = world.org.writes()
    again = world.connector("sync", "erp-to-crm")
    assert world.org.writes() == before, "a second run with nothing changed must not write"
    assert counts(again, "erp-to-crm", "customer")[:2] == [0, 0]

    stamps = world.erp("SELECT MAX(updated_at) FROM customers")
    back = world.connector("sync", "crm-to-erp")
    for entity in ("customer", "contact", "sale"):
        assert counts(back, "crm-to-erp", entity)[:2] == [0, 0], back
    assert world.erp("SELECT MAX(updated_at) FROM customers") == stamps


def test_a_won_opportunity_becomes_an_erp_order_and_its_number_and_status_flow_back(
    world: World,
):
    world.connector("sync", "erp-to-crm")
    account = world.org.records("Account")[0]
    entry = next(e for e in world.org.records("PricebookEntry") if e["ProductCode"] == "P-00001")
    with world.org.admin() as client:
        created = client.post(
            "/_sandbox/records/Opportunity",
            json={
                "Name": "Big pump order",
                "StageName": "Negotiation/Review",
                "CloseDate": "2026-12-31",
                "AccountId": account["Id"],
            },
        )
        created.raise_for_status()
        opportunity = created.json()["id"]
        client.post(
            "/_sandbox/records/OpportunityLineItem",
            json={
                "OpportunityId": opportunity,
                "PricebookEntryId": entry["Id"],
                "Quantity": 10,
                "UnitPrice": 149.0,
            },
        ).raise_for_status()

    open_sale = world.connector("sync", "crm-to-erp")
    assert counts(open_sale, "crm-to-erp", "sale")[4] == 1, "an open opportunity is no order yet"
    assert not world.erp("SELECT id FROM sales_orders WHERE title = 'Big pump order'")

    with world.org.admin() as client:
        client.patch(
            f"/_sandbox/records/Opportunity/{opportunity}", json={"StageName": "Closed Won"}
        ).raise_for_status()
    won = world.connector("sync", "crm-to-erp")
    assert counts(won, "crm-to-erp", "sale")[0] == 1
    [(order_id, number, stage, customer_no)] = world.erp(
        """
        SELECT o.id, o.order_no, o.stage, c.customer_no FROM sales_orders o
        JOIN customers c ON c.id = o.customer_id WHERE o.title = 'Big pump order'"""
    )
    assert stage == "won" and number
    assert customer_no == account["ERP_Customer_No__c"]
    assert world.erp(
        "SELECT sku, quantity, unit_price FROM sales_order_lines WHERE order_id = ?", order_id
    ) == [("P-00001", 10, 149)]

    world.connector("sync", "erp-to-crm")
    mine = next(o for o in world.org.records("Opportunity") if o["Id"] == opportunity)
    assert mine["ERP_Order_No__c"] == number

    world.erp(
        "UPDATE sales_orders SET status = 'shipped', updated_at = ? WHERE id = ?",
        erp_now(),
        order_id,
    )
    world.connector("sync", "erp-to-crm")
    mine = next(o for o in world.org.records("Opportunity") if o["Id"] == opportunity)
    assert mine["ERP_Order_Status__c"] == "shipped"


def test_setup_checks_the_org_through_describe(world: World):
    assert "OK" in world.connector("check")
    assert "the org has every field" in world.connector("salesforce", "setup")
    account = world.org.sandbox.org.schema["Account"]
    del account.fields["ERP_Open_Orders__c"]
    account.add(replace(account.fields["ERP_Customer_No__c"], unique=False))
    out = world.connector("salesforce", "setup", expect=1)
    assert "Account.ERP_Open_Orders__c: missing" in out
    assert "Account.ERP_Customer_No__c: not External ID + Unique" in out


def test_first_sync_into_a_populated_org_binds_instead_of_duplicating(world: World):
    numbers = [r[0] for r in world.erp("SELECT customer_no FROM customers ORDER BY id LIMIT 5")]
    with world.org.admin() as client:
        for number in numbers:
            client.post(
                "/_sandbox/records/Account",
                json={"Name": f"Pre-existing {number}", "ERP_Customer_No__c": number},
            ).raise_for_status()
    out = world.connector("sync", "erp-to-crm", "--entity", "customer")
    assert counts(out, "erp-to-crm", "customer")[:2] == [25, 5]
    accounts = world.org.records("Account")
    assert len(accounts) == 30 and len({a["ERP_Customer_No__c"] for a in accounts}) == 30
    keyed = [a for a in accounts if a["ERP_Customer_No__c"] in numbers]
    assert all(a["Connector_Key__c"] for a in keyed), "matched accounts get their key"


def test_a_validation_rule_fails_one_account_alone_with_salesforces_reason(world: World):
    [(bad,)] = world.erp("SELECT customer_no FROM customers ORDER BY id LIMIT 1")
    with world.org.admin() as client:
        client.post(
            "/_sandbox/validation-rules",
            json={
                "sobject": "Account",
                "field": "ERP_Customer_No__c",
                "pattern": f"^{bad}$",
                "message": "This customer number is reserved",
            },
        ).raise_for_status()
    out = world.connector("sync", "erp-to-crm", "--entity", "customer", expect=1)
    created, _, _, _, _, failed = counts(out, "erp-to-crm", "customer")
    assert (created, failed) == (29, 1)
    listing = world.connector("failures", "list")
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in listing and "reserved" in listing, listing


def test_customer_history_and_a_deleted_customer_reach_the_account(world: World):
    world.connector("sync", "erp-to-crm")
    [(customer_id, number, revenue)] = world.erp(
        "SELECT id, customer_no, lifetime_revenue FROM customers ORDER BY id LIMIT 1"
    )
    [account] = [a for a in world.org.records("Account") if a["ERP_Customer_No__c"] == number]
    assert float(account["ERP_Lifetime_Revenue__c"] or 0) == float(revenue or 0)
    now = erp_now()
    world.erp(
        "UPDATE customers SET deleted_at = ?, updated_at = ? WHERE id = ?", now, now, customer_id
    )
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[3] == 1
    [account] = [a for a in world.org.records("Account") if a["ERP_Customer_No__c"] == number]
    assert account["ERP_Customer_Status__c"] == "inactive", "the shipped policy deactivates"


def test_an_account_deleted_in_salesforce_and_a_reps_edit_come_back(world: World):
    world.connector("sync", "erp-to-crm")
    world.connector("sync", "crm-to-erp")
    accounts = sorted(world.org.records("Account"), key=lambda a: a["ERP_Customer_No__c"])
    edited, doomed = accounts[0], accounts[1]
    [(edited_id,)] = world.erp(
        "SELECT id FROM customers WHERE customer_no = ?", edited["ERP_Customer_No__c"]
    )
    with world.org.admin() as client:
        client.patch(
            f"/_sandbox/records/Account/{edited['Id']}",
            json={"Industry": "Banking", "BillingCity": "Ignored"},
        ).raise_for_status()
        client.delete(f"/_sandbox/records/Account/{doomed['Id']}").raise_for_status()
    out = world.connector("sync", "crm-to-erp")
    assert counts(out, "crm-to-erp", "customer")[1] == 1
    assert world.erp(
        "SELECT industry, billing_city <> 'Ignored' FROM customers WHERE customer_no = ?",
        edited["ERP_Customer_No__c"],
    ) == [("Banking", 1)], "the CRM owns industry, the ERP the billing address"
    # The ERP-owned city the rep overwrote is put back; nothing else is written.
    out = world.connector("sync", "erp-to-crm", "--dry-run")
    assert f"update customer {edited_id}: billing_address.city" in out, out
    deleted = world.org.records("Contact")
    assert not [c for c in deleted if c["AccountId"] == doomed["Id"]], "contacts went with it"
